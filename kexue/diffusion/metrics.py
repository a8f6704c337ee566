"""Image-sample metrics, named honestly: FD-<dataset>, precision/recall (k = 5), label histogram.

The posts (kexue.fm/archives/9119, 9152) show samples and report no number; Ho et al. report FID.
FID needs Inception-v3 weights, which we cannot download (kexue is offline), so we do not report
FID. Instead a small CNN classifier is trained once per dataset on its labels (cached beside the run
and strict-loaded afterwards) and its penultimate layer gives the features:

- **FD-<dataset>**, the Fréchet distance between Gaussians fitted to the features of data and samples:
      FD = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r^{1/2} Σ_g Σ_r^{1/2})^{1/2})
  (FID's formula in another feature space; its numbers are comparable only with the same classifier
  and the same sample count, never with published FIDs).
- **precision / recall** (Kynkäänniemi et al. 2019, k = 5; `kexue/precision_recall.py`): each real
  feature vector gets a ball whose radius is the distance to its k-th nearest real neighbour;
  precision = the share of samples inside some real ball (quality), recall = the share of real points
  inside some sample ball, with the balls built on the samples (coverage).
- the classifier's **predicted-label histogram** of the samples and its normalised entropy
  H / log C (1 = every class equally often; a collapsed sampler scores low), and for class-
  conditional samples the share whose predicted label is the one asked for.

Departure: a folder of images without labels has no classifier to train; its features then come
from the same network at its seeded random initialisation and the distance is named
`FD-<dataset>-random` (random features still separate distributions, but less sharply).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kexue.precision_recall import precision_recall


@dataclass
class ClassifierConfig:
    width: int = 32          # channels of the first conv (then 2×width, then feature_dim)
    feature_dim: int = 64    # size of the feature vector (the pooled last conv)
    steps: int = 500         # Adam steps
    batch_size: int = 128
    lr: float = 2e-3
    holdout: float = 0.1     # share of the data held out to report the classifier's accuracy
    seed: int = 0


class FeatureClassifier(nn.Module):
    """conv3×3 → GELU → conv3×3/2 → GELU → conv3×3/2 → GELU → global mean = features → linear."""

    def __init__(self, in_channels: int, num_classes: int, cfg: ClassifierConfig | None = None):
        super().__init__()
        cfg = cfg or ClassifierConfig()
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * w, cfg.feature_dim, 3, stride=2, padding=1), nn.GELU())
        self.head = nn.Linear(cfg.feature_dim, max(num_classes, 1))

    def features(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def fit_classifier(x: Tensor, y: Tensor, cfg: ClassifierConfig | None = None) -> tuple[FeatureClassifier, float]:
    """Train the feature classifier on (x, y); return it (in eval mode) and its held-out accuracy."""
    cfg = cfg or ClassifierConfig()
    g = torch.Generator().manual_seed(cfg.seed)
    num_classes = int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):  # a seeded init that leaves the caller's random state alone
        torch.manual_seed(cfg.seed)
        model = FeatureClassifier(x.shape[1], num_classes, cfg)
    perm = torch.randperm(len(x), generator=g)
    n_test = int(len(x) * cfg.holdout)
    test, train = perm[:n_test], perm[n_test:]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    for step in range(cfg.steps):
        idx = train[torch.randint(len(train), (cfg.batch_size,), generator=g)]
        # cosine decay of the rate to 0 over the run
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    acc = float((predict(model, x[test]) == y[test]).float().mean()) if n_test else float("nan")
    return model, acc


def load_or_fit_classifier(name: str, x: Tensor, y: Tensor | None, cache_dir: str | Path,
                           cfg: ClassifierConfig | None = None) -> tuple[FeatureClassifier, dict]:
    """The feature classifier of dataset `name`, from `cache_dir/classifier-<name>.safetensors` when
    it was trained on these data with these settings (strict load), else trained now and cached.

    Returns (model, info) with info = {"name", "accuracy", "num_classes", "fingerprint", "trained"}.
    Without labels (y None) the network keeps its seeded random initialisation (see module docstring).
    """
    from kexue.train import load_model, save_model

    cfg = cfg or ClassifierConfig()
    cache_dir = Path(cache_dir)
    weights, meta_file = cache_dir / f"classifier-{name}.safetensors", cache_dir / f"classifier-{name}.json"
    fingerprint = _fingerprint(x, y, cfg)
    num_classes = int(y.max()) + 1 if y is not None else 0
    if weights.exists() and meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("fingerprint") == fingerprint:
            model = FeatureClassifier(x.shape[1], num_classes, cfg)
            load_model(model, weights)
            return model.eval(), {**meta, "trained": False}
    if y is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model, acc = FeatureClassifier(x.shape[1], 0, cfg).eval(), float("nan")
    else:
        model, acc = fit_classifier(x, y, cfg)
    info = {"name": name, "accuracy": acc, "num_classes": num_classes, "fingerprint": fingerprint,
            "config": asdict(cfg), "images": list(x.shape)}
    cache_dir.mkdir(parents=True, exist_ok=True)
    save_model(model, weights)
    meta_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return model, {**info, "trained": True}


@torch.no_grad()
def features(model: FeatureClassifier, x: Tensor, batch_size: int = 1024) -> Tensor:
    """The classifier's feature vectors [N, feature_dim] of images [N, C, H, W] (clipped to [−1, 1])."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.features(x[i:i + batch_size].to(dev).clamp(-1, 1)).cpu()
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def predict(model: FeatureClassifier, x: Tensor, batch_size: int = 1024) -> Tensor:
    """The classifier's predicted labels [N]."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch_size].to(dev).clamp(-1, 1)).argmax(-1).cpu()
                      for i in range(0, len(x), batch_size)])


def gaussian_stats(f: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and (unbiased) covariance of feature vectors f [N, d], in float64."""
    f = f.double()
    mu = f.mean(0)
    # Σ = (f − μ)ᵀ(f − μ) / (N − 1)
    c = f - mu
    return mu, c.T @ c / max(len(f) - 1, 1)


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """Fréchet (2-Wasserstein²) distance of N(μ₁, Σ₁) and N(μ₂, Σ₂), in float64:
    ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}."""
    mu1, mu2, cov1, cov2 = mu1.double(), mu2.double(), cov1.double(), cov2.double()
    lam, v = torch.linalg.eigh((cov1 + cov1.T) / 2)
    # Σ₁^{1/2} = V diag(√λ) Vᵀ (λ clipped at 0: a sample covariance may have tiny negative ones)
    s1 = (v * lam.clamp(min=0).sqrt()) @ v.T
    m = s1 @ cov2 @ s1
    # tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2} = Σ √eig, the matrix being symmetric positive semi-definite
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    fd = (mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt
    return float(fd.clamp(min=0))


def label_histogram(labels: Tensor, num_classes: int) -> tuple[list[int], float]:
    """Counts per class of predicted labels, and the normalised entropy H(p)/log C ∈ [0, 1]."""
    counts = torch.bincount(labels.long(), minlength=num_classes)[:num_classes].double()
    p = counts / counts.sum().clamp(min=1)
    # H(p) = −Σ p log p, divided by its maximum log C
    h = -(p[p > 0] * p[p > 0].log()).sum() / math.log(num_classes) if num_classes > 1 else torch.tensor(0.0)
    return [int(c) for c in counts], float(h) + 0.0  # + 0.0 turns −0.0 into 0.0


class ImageMetrics:
    """FD-<name>, precision, recall and the label histogram of samples against reference images.

        metrics = ImageMetrics("digits", x_ref, classifier, info["num_classes"])
        metrics(x_gen)  # {"FD-digits": ..., "precision": ..., "recall": ..., "label_entropy": ..., ...}

    The reference features and their Gaussian are computed once. Use the same number of samples for
    numbers you compare: FD has a positive bias that shrinks with the sample count.
    """

    def __init__(self, name: str, x_ref: Tensor, classifier: FeatureClassifier, num_classes: int = 0, k: int = 5):
        self.name = name if num_classes else f"{name}-random"
        self.classifier, self.num_classes, self.k = classifier, num_classes, k
        self.f_ref = features(classifier, x_ref)
        self.mu_ref, self.cov_ref = gaussian_stats(self.f_ref)

    @property
    def fd_key(self) -> str:
        return f"FD-{self.name}"

    def __call__(self, x_gen: Tensor, y_gen: Tensor | None = None) -> dict:
        f = features(self.classifier, x_gen)
        mu, cov = gaussian_stats(f)
        precision, recall = precision_recall(self.f_ref, f, self.k)
        out: dict = {self.fd_key: frechet_distance(self.mu_ref, self.cov_ref, mu, cov),
                     "precision": precision, "recall": recall, "n": len(x_gen)}
        if self.num_classes:
            pred = predict(self.classifier, x_gen)
            hist, entropy = label_histogram(pred, self.num_classes)
            out.update(label_hist=hist, label_entropy=entropy)
            if y_gen is not None:
                out["cond_accuracy"] = float((pred == y_gen.cpu()).float().mean())
        return out


def _fingerprint(x: Tensor, y: Tensor | None, cfg: ClassifierConfig) -> str:
    """A digest of the data and the settings: a cached classifier is reused only for the same both."""
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    h.update(str(tuple(x.shape)).encode())
    h.update(x.detach().float().cpu().contiguous().numpy().tobytes())
    if y is not None:
        h.update(y.detach().long().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
