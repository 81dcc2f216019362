"""rekogan.writer.encoder / conditioned (issue 25 spike): the style encoder and its paired training.

On a tiny-preset generator (4 classes, 16x16, random weights: no training run, no fonts) and the
shipped 520-class reader as the readability term; one thread, seconds."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import REPO, random_tiny_generator

CLASSIFIER = REPO / "checkpoints/classifier/classifier.safetensors"


@pytest.fixture(scope="module")
def tiny_G():
    return random_tiny_generator(z_gain=0.3)       # z matters at every layer (as test_writer's writerly_G)


@pytest.fixture(scope="module")
def feats():
    assert CLASSIFIER.is_file(), f"missing {CLASSIFIER} (the shipped reader)"
    from rekogan.writer import reader_features
    return reader_features(CLASSIFIER)


def _encoder(G, seed=1):
    from rekogan.writer.encoder import encoder_for
    torch.manual_seed(seed)
    return encoder_for(G, width=8, feat=32)


def _writer_images(G, n_faces=6):
    """(F, 4, S, S) uint8: every class drawn by n_faces random writers of G: a paired data set E can learn."""
    from rekogan.sampling import generate
    g = torch.Generator().manual_seed(5)
    faces = []
    for _ in range(n_faces):
        z = torch.randn(G.cfg.z_dim, generator=g)
        x = generate(G, torch.arange(4), z)                           # (4, 1, S, S) in [-1, 1]
        faces.append(((x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.stack(faces)


def test_encoder_shapes_zero_start_and_order_invariance(tiny_G):
    from rekogan.writer.latent import n_layers
    G = tiny_G
    E = _encoder(G)
    refs = torch.rand(2, 3, 1, G.cfg.size, G.cfg.size) * 2 - 1
    y = torch.tensor([[0, 1, 2], [3, 1, 0]])
    cond = G.embed(y.flatten()).detach().view(2, 3, -1)
    lat, w = E(refs, cond)
    assert lat.shape == (2, n_layers(G), G.cfg.z_dim)
    assert (w is None) == (not getattr(G.cfg, "weight_cond", False))
    assert lat.abs().max() == 0, "an untrained encoder must give the prior's mean (z = 0)"
    with torch.no_grad():                             # a trained-looking head: the order must still not matter
        E.head[-1].weight.normal_(0, 0.1)
        E.head[-1].bias.normal_(0, 0.1)
    lat, _ = E(refs, cond)
    order = torch.tensor([2, 0, 1])
    lat_p, _ = E(refs[:, order], cond[:, order])
    assert lat.abs().max() > 0
    torch.testing.assert_close(lat_p, lat, atol=1e-5, rtol=1e-5)
    other, _ = E(refs.flip(0), cond.flip(0))          # and the writer does depend on the references
    assert (other - lat).abs().max() > 1e-4
    with pytest.raises(ValueError, match="refs must be"):
        E(refs[0], cond)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch(tiny_G, feats):
    from rekogan.writer.conditioned import PairedConfig, make_optimizer, paired_loss, sample_batch, train_step
    G = copy.deepcopy(tiny_G)
    originals = {n: p.detach().clone() for n, p in G.named_parameters()}
    E = _encoder(G)
    cfg = PairedConfig(faces=3, k=2, targets=2, lr_e=1e-4, lr_g=1e-5, read=0.1, anchor=10.0)
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])
    b = sample_batch(_writer_images(tiny_G), torch.arange(4), faces=3, k=2, targets=2,
                     gen=torch.Generator().manual_seed(0))
    assert b.refs.shape == (3, 2, 1, G.cfg.size, G.cfg.size) and b.targets.shape == b.refs.shape
    assert all(set(r.tolist()).isdisjoint(t.tolist()) for r, t in zip(b.ref_labels, b.target_labels))
    opt = make_optimizer(E, G, cfg)

    def loss():
        with torch.no_grad():
            return float(paired_loss(E, G, b, feats=feats, codes=codes, originals=originals, cfg=cfg)[0])

    before = loss()
    parts = train_step(E, G, b, opt, feats=feats, codes=codes, originals=originals, cfg=cfg)
    assert parts["loss"] == pytest.approx(before, rel=1e-5)
    after = loss()
    assert after < before, (before, after)
    assert not G.training, "the generator must stay in eval mode (BatchNorm running statistics)"
    assert any((p - originals[n]).abs().max() > 0 for n, p in G.named_parameters()), "G was not tuned"


def test_sample_batch_refuses_too_few_syllables():
    from rekogan.writer.conditioned import sample_batch
    with pytest.raises(ValueError, match="only 4 syllables"):
        sample_batch(torch.zeros(2, 4, 16, 16, dtype=torch.uint8), torch.arange(4), faces=1, k=3, targets=2,
                     gen=torch.Generator())


def test_resume_state_round_trips(tiny_G, feats, tmp_path):
    """Two steps, save, load into fresh models, one more step each: the same parameters, bit for bit."""
    from rekogan.writer.conditioned import (PairedConfig, load_resume, make_optimizer, sample_batch, save_resume,
                                            train_step)
    cfg = PairedConfig(faces=2, k=2, targets=2, lr_e=1e-3, lr_g=1e-4, read=0.1)
    images = _writer_images(tiny_G)
    originals = {n: p.detach().clone() for n, p in tiny_G.named_parameters()}
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])

    def fresh():
        G = copy.deepcopy(tiny_G)
        E = _encoder(G, seed=3)
        return E, G, make_optimizer(E, G, cfg), torch.Generator().manual_seed(0)

    def step(E, G, opt, gen):
        b = sample_batch(images, torch.arange(4), faces=2, k=2, targets=2, gen=gen)
        train_step(E, G, b, opt, feats=feats, codes=codes, originals=originals, cfg=cfg)

    E, G, opt, gen = fresh()
    for _ in range(2):
        step(E, G, opt, gen)
    save_resume(tmp_path / "state.safetensors", E=E, G=G, opt=opt, counters={"step": 2, "cpu_s": 1.5}, gen=gen)
    E2, G2, opt2, gen2 = fresh()
    gen2.manual_seed(99)                              # must be replaced by the saved stream
    counters = load_resume(tmp_path / "state.safetensors", E=E2, G=G2, opt=opt2, gen=gen2)
    assert counters == {"step": 2, "cpu_s": 1.5}
    step(E, G, opt, gen)
    step(E2, G2, opt2, gen2)
    for a, b in ((E, E2), (G, G2)):
        for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), n
    assert not list(tmp_path.glob(".*.tmp")), "the atomic writer left a temporary file"


def test_init_file_loads_into_a_new_run_and_refuses_a_foreign_one(tiny_G, tmp_path):
    """scripts/train_writer_encoder.py --init: E.* / G.* weights (as resume/writer_enc.safetensors) start a run."""
    import sys
    from safetensors.torch import save_file
    from conftest import REPO as repo
    sys.path.insert(0, str(repo / "scripts"))
    from train_writer_encoder import load_init
    G = copy.deepcopy(tiny_G)
    E = _encoder(G, seed=4)
    with torch.no_grad():
        E.head[-1].weight.normal_(0, 0.1)
        next(G.parameters()).add_(0.5)
    t = {**{"E." + k: v.half().contiguous() for k, v in E.state_dict().items()},
         **{"G." + k: v.half().contiguous() for k, v in G.state_dict().items()}}
    save_file(t, str(tmp_path / "init.safetensors"))
    G2, E2 = copy.deepcopy(tiny_G), _encoder(tiny_G, seed=5)
    load_init(tmp_path / "init.safetensors", E=E2, G=G2)
    for a, b in ((E, E2), (G, G2)):
        for (n, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(q, p.half().to(p.dtype), msg=n)
    save_file({k: v for k, v in t.items() if k.startswith("E.")}, str(tmp_path / "no_g.safetensors"))
    with pytest.raises(SystemExit, match="no G"):
        load_init(tmp_path / "no_g.safetensors", E=E2, G=G2)
    E_big = _encoder(tiny_G, seed=5)
    E_big.head[-1] = torch.nn.Linear(32, 7)                           # the same names, another head shape
    save_file({**{k: v for k, v in t.items() if k.startswith("G.")},
               **{"E." + k: v.contiguous() for k, v in E_big.state_dict().items()}},
              str(tmp_path / "foreign.safetensors"))
    with pytest.raises(SystemExit, match="other shapes"):
        load_init(tmp_path / "foreign.safetensors", E=E2, G=G2)


def test_jitter_faces_moves_each_face_as_one_and_is_off_at_zero():
    """The augmentation makes a nearby NEW face: one transform for all of a face's glyphs (references
    and targets still agree), another for the next face; p = 0 changes nothing and draws nothing."""
    from rekogan.writer.conditioned import jitter_faces, sample_batch
    x = torch.full((3, 4, 1, 32, 32), -1.0)
    x[..., 8:24, 14:18] = 1                                           # the same glyph everywhere
    x[..., 14:18, 6:26] = 1
    g = torch.Generator().manual_seed(1)
    y = jitter_faces(x, p=1.0, gen=g)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    for b in range(3):
        for n in range(1, 4):
            torch.testing.assert_close(y[b, n], y[b, 0])              # one face, one transform
    assert (y[0] - y[1]).abs().max() > 0.5 and (y[0] - x[0]).abs().max() > 0.5
    torch.testing.assert_close(jitter_faces(x, p=0.0, gen=g), x, atol=1e-5, rtol=0)
    # every glyph one flat grey that names its face and column: untouched glyphs stay flat
    images = (torch.arange(30, dtype=torch.uint8) * 8 + 8).view(5, 6, 1, 1).expand(5, 6, 16, 16).contiguous()
    a = sample_batch(images, torch.arange(6), faces=2, k=2, targets=2, gen=torch.Generator().manual_seed(3))
    b = sample_batch(images, torch.arange(6), faces=2, k=2, targets=2, gen=torch.Generator().manual_seed(3), augment=1.0)
    assert torch.equal(b.ref_labels, a.ref_labels), "the same draw of faces and syllables"
    flat = a.refs.flatten(2).std(dim=2)
    assert flat.max() == 0, "augment 0: the real glyphs, untouched"
    value = ((a.refs[:, :, 0, 0, 0] + 1) * 127.5).round().long()
    assert torch.equal((value - 8) // 8 % 6, a.ref_labels)
    assert b.refs.flatten(2).std(dim=2).min() > 0, "augment 1 jitters every face"


def test_validation_split_is_drawn_by_seed_and_refuses_all_faces():
    from rekogan.writer.conditioned import validation_split
    names = [f"face{i}" for i in range(20)]
    a = validation_split(names, 6, seed=0)
    assert a == validation_split(names, 6, seed=0) and len(a) == len(set(a)) == 6
    assert a == [n for n in names if n in a], "in the training faces' order"
    assert a != validation_split(names, 6, seed=1)
    assert validation_split(names, 0, seed=0) == []
    with pytest.raises(ValueError, match="val-faces"):
        validation_split(names, 20, seed=0)


def test_init_encoder_copies_the_reading_layers_only(tiny_G, tmp_path):
    """--init-encoder (e.g. the hangul encoder for the fixed run): convolutions and image columns are
    copied; the syllable-embedding columns and the last head layer (another generator's spaces) are
    not, so the new E still starts at this generator's z = 0."""
    import sys
    from safetensors.torch import save_file
    sys.path.insert(0, str(REPO / "scripts"))
    from train_writer_encoder import load_encoder_init
    src = _encoder(tiny_G, seed=7)
    with torch.no_grad():
        for p in src.parameters():
            p.normal_(0, 0.1)
    save_file({"E." + k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "src.safetensors"))
    E = _encoder(tiny_G, seed=8)
    fresh = {k: v.clone() for k, v in E.state_dict().items()}
    copied = load_encoder_init(tmp_path / "src.safetensors", E=E)
    sd, cond = E.state_dict(), E.config["cond_dim"]
    assert "body.0.weight" in copied and torch.equal(sd["body.0.weight"], src.state_dict()["body.0.weight"])
    torch.testing.assert_close(sd["per_ref.0.weight"][:, :-cond], src.state_dict()["per_ref.0.weight"][:, :-cond])
    torch.testing.assert_close(sd["per_ref.0.weight"][:, -cond:], fresh["per_ref.0.weight"][:, -cond:])
    assert sd["head.2.weight"].abs().max() == 0 and sd["head.2.bias"].abs().max() == 0
    refs = torch.rand(1, 2, 1, tiny_G.cfg.size, tiny_G.cfg.size) * 2 - 1
    lat, _ = E(refs, tiny_G.embed(torch.tensor([0, 1])).detach()[None])
    assert lat.abs().max() == 0
    other = _encoder(tiny_G, seed=9)
    other.body[0] = torch.nn.Conv2d(1, 4, 4, 2, 1)                   # another width: refused, not half-loaded
    save_file({"E." + k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "other.safetensors"))
    with pytest.raises(SystemExit, match="body.0.weight"):
        load_encoder_init(tmp_path / "other.safetensors", E=_encoder(tiny_G))


def test_a_class_run_trains_with_validation_faces_and_keeps_the_best(tiny_ckpt, font_set, tmp_path):
    """The fixed run's path end to end on the tiny class run (4 SERI95 classes, no split.json, the
    520-class reader): validation faces come from the training faces, are recorded and never trained
    on; the best weights are chosen by them and measured at the end; eval_writer_encoder reads them."""
    import json
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    import eval_writer_encoder
    import train_writer_encoder
    run = tmp_path / "run"
    common = ["--checkpoint", str(tiny_ckpt), "--reader", str(CLASSIFIER), "--eval-k", "1", "--eval-others", "2"]
    assert train_writer_encoder.main(["--run", str(run), *common, "--cpu-minutes", "0.03", "--eval-every", "0.5",
                                      "--faces", "2", "--k", "1", "--targets", "2", "--val-faces", "3",
                                      "--augment", "0.5", "--log-every", "1000"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert len(cfg["val_faces"]) == 3 and not set(cfg["val_faces"]) & set(cfg["train_faces"])
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in recs if r["event"] == "eval"]
    assert len(evals) >= 2 and all("validation" in r for r in evals)
    best = max(evals, key=lambda r: r["validation"]["ssim"])
    assert best.get("best") and (run / "encoder_best.safetensors").is_file()
    final = [r for r in recs if r["event"] == "final_best"]
    assert len(final) == 1 and final[0]["best_step"] == best["step"]
    assert final[0]["validation"]["ssim"] == pytest.approx(best["validation"]["ssim"], abs=0.02)  # fp16 weights
    assert "readable_heldout_syllables" not in final[0]["encoder"], "a class run has no never-trained syllables"
    assert eval_writer_encoder.main(["--run", str(run), "--out", str(tmp_path / "eval.json")]) == 0
    out = json.loads((tmp_path / "eval.json").read_text())
    assert out["which"] == "best"
    assert out["mean"]["held-out system faces"]["encoder"]["ssim"] == pytest.approx(final[0]["encoder"]["ssim"], abs=1e-6)
    # settings are chosen on the validation faces, with the app's fit itself: each --fit-set is a row
    fast = "steps_layers=2,steps_adapter=2"
    assert eval_writer_encoder.main(["--run", str(run), "--on", "validation", "--ref-seed", "1", "--fit-set", f"a:{fast}",
                                     "--fit-set", f"b:{fast},adapter=none", "--out", str(tmp_path / "val.json")]) == 0
    val = json.loads((tmp_path / "val.json").read_text())
    assert sorted(val["per_face"]) == sorted(cfg["val_faces"])
    mean = val["mean"]["validation training faces"]
    assert {"retrieval", "encoder", "fit a", "fit b"} <= set(mean) and 0 <= mean["fit a"]["style_top1"] <= 1
    assert all(d["retrieval"]["face"] != n for n, d in val["per_face"].items()), "retrieval never draws the face itself"
    with pytest.raises(SystemExit):
        eval_writer_encoder.main(["--run", str(run), "--on", "validation", "--fit-set", "a:no_such=1"])
    # resumed with other learning rates: the command's rates replace the ones Adam's state was saved with
    assert train_writer_encoder.main(["--run", str(run), *common, "--cpu-minutes", "0.05", "--eval-every", "0.5",
                                      "--faces", "2", "--k", "1", "--targets", "2", "--val-faces", "3",
                                      "--log-every", "1000", "--lr-e", "1e-5", "--lr-g", "2e-6"]) == 0
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in recs if r["event"] == "resume"]
    assert len(resumed) == 1 and (resumed[0]["lr_e"], resumed[0]["lr_g"]) == (1e-5, 2e-6)
    from rekogan.checkpoints import load_generator
    from rekogan.writer.conditioned import PairedConfig, load_resume, make_optimizer
    from rekogan.writer.encoder import encoder_for
    G, _ = load_generator(tiny_ckpt)
    E = encoder_for(G, **{k: v for k, v in cfg["encoder"].items() if k in ("width", "feat")})
    opt = make_optimizer(E, G, PairedConfig(lr_e=1.0, lr_g=1.0))
    load_resume(run / "state.safetensors", E=E, G=G, opt=opt, gen=torch.Generator())
    assert [g["lr"] for g in opt.param_groups] == [1e-5, 2e-6]


def test_encoder_views_average_the_writers_of_blurred_references(tiny_G):
    """FitConfig.encoder_views: 1 is E's writer of the references as they are; n > 1 the mean of E's writers of
    the references blurred by sigma 0 .. 1 px (a screened option, off by default)."""
    from rekogan.writer.encoder import start_writer
    from rekogan.writer.fit import FitConfig, _blurred, _encoder_start
    G, E = tiny_G, _encoder(tiny_G)
    with torch.no_grad():                             # a head that reads the references
        E.head[-1].weight.normal_(0, 0.1)
        E.head[-1].bias.normal_(0, 0.1)
    refs = torch.full((3, 1, G.cfg.size, G.cfg.size), -1.0)
    refs[:, :, 6:9, 4:12] = 1.0                       # one stroke, white on black, clear of the edges
    y = torch.tensor([0, 1, 2])
    assert FitConfig().encoder_views == 1
    with pytest.raises(ValueError, match="encoder_views"):
        FitConfig(encoder_views=0)
    one = _encoder_start(E, G, refs, y, 1)[0]
    torch.testing.assert_close(one, start_writer(E, G, refs, y)[0].detach().float())
    blurred = _blurred(refs, 1.0)
    assert torch.equal(_blurred(refs, 0.0), refs)
    torch.testing.assert_close(blurred.mean(), refs.mean(), atol=1e-5, rtol=0)     # blur moves ink, keeps it
    assert blurred[0, 0, 5, 8] > -1 and blurred[0, 0, 7, 8] < 1
    three = _encoder_start(E, G, refs, y, 3)[0]
    mean = torch.stack([start_writer(E, G, _blurred(refs, s), y)[0] for s in (0.0, 0.5, 1.0)]).mean(0)
    torch.testing.assert_close(three, mean.detach().float())
    assert (three - one).abs().max() > 1e-5


def test_the_feature_term_adds_the_reader_feature_distance_and_trains_through_it(tiny_G, feats):
    """PairedConfig.feature: the loss grows by exactly feature * feature_distance(drawn, real) in the chosen
    features (style_feats, default the read term's reader), and that term alone moves E."""
    from rekogan.writer.conditioned import PairedConfig, draw, paired_loss, sample_batch
    from rekogan.writer.losses import JointFeatures, feature_distance
    G = copy.deepcopy(tiny_G)
    E = _encoder(G)
    with torch.no_grad():                                  # a writer that depends on the references
        E.head[-1].weight.normal_(0, 0.1)
    b = sample_batch(_writer_images(tiny_G), torch.arange(4), faces=3, k=2, targets=2,
                     gen=torch.Generator().manual_seed(0))
    codes = torch.tensor([ord(c) - 0xAC00 for c in "가각간갈"])
    off = PairedConfig(read=0.1, anchor=0.0, shell=0.0, feature=0.0)
    on = PairedConfig(read=0.1, anchor=0.0, shell=0.0, feature=2.0)
    with torch.no_grad():
        lat, w, ad = E.writer(b.refs, G.embed(b.ref_labels.flatten()).view(*b.ref_labels.shape, -1))
        x = draw(G, lat, w, b.target_labels, ad)
        fd = float(feature_distance(feats(x), feats(b.targets.flatten(0, 1))).mean())
        l_off, p_off = paired_loss(E, G, b, feats=feats, codes=codes, originals={}, cfg=off)
        l_on, p_on = paired_loss(E, G, b, feats=feats, codes=codes, originals={}, cfg=on)
    assert "feature" not in p_off and p_on["feature"] == pytest.approx(fd, rel=1e-5)
    assert float(l_on) == pytest.approx(float(l_off) + 2.0 * fd, rel=1e-5)
    assert p_on["read_ce"] == pytest.approx(p_off["read_ce"], rel=1e-5), "the shared pass reads the same"
    joint = JointFeatures(feats, feats)                    # the maps twice, the pooled vector twice: the same distance
    with torch.no_grad():
        _, p_joint = paired_loss(E, G, b, feats=feats, codes=codes, originals={}, cfg=on, style_feats=joint)
    assert p_joint["feature"] == pytest.approx(fd, rel=1e-4)
    # the term alone (pixel terms subtracted) has a gradient in E
    pixel_only = PairedConfig(read=0.0, anchor=0.0, shell=0.0, feature=0.0)
    feature_only = PairedConfig(read=0.0, anchor=0.0, shell=0.0, feature=1.0)
    E.zero_grad()
    term = (paired_loss(E, G, b, feats=feats, codes=codes, originals={}, cfg=feature_only)[0]
            - paired_loss(E, G, b, feats=feats, codes=codes, originals={}, cfg=pixel_only)[0])
    assert float(term) == pytest.approx(fd, rel=1e-4)
    term.backward()
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in E.parameters()), "the feature term moves E"


def test_a_run_records_its_feature_readers_and_logs_the_term(tiny_ckpt, font_set, tmp_path):
    import json
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    import train_writer_encoder
    app_reader = REPO / "checkpoints/reader/reader.safetensors"
    assert app_reader.is_file(), f"missing {app_reader} (the shipped component reader)"
    run = tmp_path / "run"
    both = f"{CLASSIFIER},{app_reader}"
    assert train_writer_encoder.main(["--run", str(run), "--checkpoint", str(tiny_ckpt), "--reader", str(CLASSIFIER),
                                      "--eval-k", "1", "--eval-others", "2", "--cpu-minutes", "0.01",
                                      "--eval-every", "100", "--faces", "2", "--k", "1", "--targets", "2",
                                      "--val-faces", "2", "--log-every", "1", "--feature", "0.5",
                                      "--feature-reader", both]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["paired"]["feature"] == 0.5 and cfg["feature_reader"] == both
    train = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["event"] == "train"]
    assert train and all(r["feature"] > 0 for r in train)
    with pytest.raises(SystemExit, match="does not exist"):
        train_writer_encoder.main(["--run", str(tmp_path / "r2"), "--checkpoint", str(tiny_ckpt), "--reader",
                                   str(CLASSIFIER), "--feature", "1", "--feature-reader", str(tmp_path / "none.safetensors")])
