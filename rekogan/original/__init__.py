"""Import the original ReKOGAN's generator checkpoints (model_save/G_epoch_N.pth) as a ReKOGAN run.

  python -m rekogan import-original model_save/ --out checkpoints/original   (once registered)
  python -m rekogan.original model_save/ --out checkpoints/original            (always works)
  python -m rekogan.original model_save/G_epoch_8.pth --out checkpoints/orig8 [--epoch 8]

The original saved `torch.save(G.state_dict(), f"model_save/G_epoch_{N}.pth")` of

  label_emb = Linear(num_classes, embed_size)            on a ONE-HOT label (with a bias)
  net = ConvT(nz+embed, ngf*8, 4, 1, 0), BN, ReLU, ConvT(ngf*8, ngf*4, 4, 2, 1), BN, ReLU,
        ConvT(ngf*4, ngf*2, 4, 2, 1), BN, ReLU, ConvT(ngf*2, ngf, 4, 2, 1), BN, ReLU,
        ConvT(ngf, 1, 4, 2, 1), Tanh                    (all convs without bias)
  forward(noise, onehot) = net(cat([noise, label_emb(onehot)], 1)[:, :, None, None])

which is the project's 'dcgan' DCGANGenerator at size 64, except for the label: a Linear applied
to a one-hot vector of class i is exactly column i of its weight plus its bias, so the Linear is
folded into an embedding table, embed.weight[i] = W[:, i] + b (the same single fp32 rounding the
original's addmm does). Every other tensor (convs, BN affine and running statistics) is copied
under the same key. embed_size, nz and ngf are read off the tensor shapes; the class list is
SERI95 in EUC-KR order (the original's `sorted(os.listdir(root))` of EUC-KR hex folder names).

Safety: a .pth is a pickle, so it is read only with torch.load(weights_only=True), which accepts
tensors and plain containers and refuses everything else before it runs; such a refusal is
reported with the file and the global it asked for. Nothing else of the file is executed, and
the app itself keeps reading safetensors only.

Each file is checked (architecture by key and shape; finite weights that fit in fp16), converted,
written with rekogan.checkpoints.save_generator (fp16 unless --fp32) and verified: the converted
generator is compared with a plain functional re-implementation of the original forward on 8
writers, and the import fails if they differ by more than 1e-5 in fp32; the fp16 file's deviation
in grey levels is recorded. All files go into a hidden staging folder next to --out which is
renamed into place only when every epoch has been written, so a failure or a kill never leaves a
half-imported run under --out. An --out that already holds a run is refused; --force replaces a
previous import (never a trained run).
"""
from __future__ import annotations

from .cli import add_parser, run  # noqa: F401
from .importer import ImportResult, find_checkpoints, import_original, is_previous_import  # noqa: F401
from .pth import (FILE_RE, IMPORTED_FROM, PRESET, PROVENANCE_KIND, OriginalImportError, OriginalShape,  # noqa: F401
                  convert, expected_shapes, infer_shape, load_pth, model_config, original_forward, verify)
