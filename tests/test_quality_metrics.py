"""Sample-quality metrics against known cases: identical sets score 0 (FID, SWD) or ~0 (KID),
shifted or blurred sets score worse, MS-SSIM of copies is 1, and the same seed gives the same
numbers. The offline feature network is checked against the PyTorch reference's logits."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage

from datasets import blob_image
from trainer import config
from trainer.quality import features, frechet, msssim, swd, torch_weights


def blobs(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = np.stack([blob_image(rng, size) for _ in range(count)]).astype(np.float32)
    # Some texture, so that blurring changes the fine pyramid levels.
    images += rng.normal(0, 12, images.shape)
    return (np.clip(images, 0, 255) / 127.5 - 1.0).astype(np.float32)


def blur(images: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0)).astype(np.float32)


# --- SWD --------------------------------------------------------------------------------------

def test_swd_identical_sets_is_zero_and_levels_follow_resolution():
    real = blobs(24)
    out = swd.swd(real, real.copy(), projections=128)
    assert set(out) == {"swd_32", "swd_16", "swd_avg"}
    assert all(v == 0.0 for v in out.values())
    assert set(swd.swd(blobs(4, 64), blobs(4, 64, seed=1), projections=16)) == {"swd_64", "swd_32", "swd_16", "swd_avg"}


def test_swd_blurred_noisy_or_different_sets_score_worse_than_a_fresh_sample():
    real, other = blobs(48, seed=0), blobs(48, seed=1)
    same_distribution = swd.swd(real, other, projections=128)
    blurred = swd.swd(real, blur(other), projections=128)
    noisy = swd.swd(real, np.clip(other + np.random.default_rng(0).normal(0, 0.3, other.shape), -1, 1), projections=128)
    stripes = np.sin(np.arange(32) * 1.3)[None, None, :, None] * np.ones_like(other)  # other structure
    different = swd.swd(real, stripes.astype(np.float32), projections=128)
    # Blur removes fine detail and noise adds it: the finest level reacts most.
    assert blurred["swd_32"] > 2 * same_distribution["swd_32"]
    assert noisy["swd_32"] > 2 * same_distribution["swd_32"]
    assert different["swd_avg"] > 2 * same_distribution["swd_avg"]


def test_swd_ignores_a_global_affine_colour_change_like_the_reference():
    """Each set's descriptors are normalised by its own per-channel mean and std (as in the
    Progressive GAN code), so SWD measures structure, not a global brightness or contrast."""
    real, other = blobs(32, seed=0), blobs(32, seed=1)
    changed = other * 0.5 + 0.2  # no clipping needed: stays in [-1, 1]
    assert swd.swd(real, changed, projections=128)["swd_avg"] == pytest.approx(
        swd.swd(real, other, projections=128)["swd_avg"], rel=0.05)


def test_swd_is_deterministic_and_depends_on_the_seed():
    real, fake = blobs(16, seed=0), blobs(16, seed=1)
    assert swd.swd(real, fake, projections=64, seed=3) == swd.swd(real, fake, projections=64, seed=3)
    assert swd.swd(real, fake, projections=64, seed=3) != swd.swd(real, fake, projections=64, seed=4)


def test_laplacian_pyramid_reconstructs_the_image():
    images = swd.to_0_255(blobs(2))
    pyramid = swd.laplacian_pyramid(images, 2)
    assert [p.shape[1] for p in pyramid] == [32, 16]
    np.testing.assert_allclose(pyramid[0] + swd.pyr_up(pyramid[1]), images, atol=1e-3)


def test_swd_patches_are_7x7_and_normalised_per_channel():
    desc = swd.descriptors(blobs(3), seed=0)
    assert [d.shape for d in desc] == [(3 * 128, 7 * 7 * 3)] * 2
    per_channel = desc[0].reshape(-1, 7, 7, 3)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(per_channel.std(axis=(0, 1, 2)), 1, atol=1e-4)


def float64_swd(real: np.ndarray, fake: np.ndarray, projections: int, seed: int = 0):
    """SWD per level with every step in float64: pyramid, patch statistics, projections (the same
    patch positions and directions as swd.swd)."""
    def descriptors(images):
        x = swd.to_0_255(images).astype(np.float64)
        rng = np.random.default_rng(seed)
        pyramid = [x]
        for _ in range(1, len(swd.resolutions(x.shape[1]))):
            pyramid.append(swd.pyr_down(pyramid[-1]))
            pyramid[-2] = pyramid[-2] - swd.pyr_up(pyramid[-1])
        out = []
        for level in pyramid:
            p = swd.patches(level, rng)
            p = (p - p.mean(axis=(0, 1, 2), keepdims=True)) / p.std(axis=(0, 1, 2), keepdims=True)
            out.append(p.reshape(len(p), -1))
        return out
    rng = np.random.default_rng([seed, 1])
    return [swd.sliced_wasserstein(a, b, projections, rng) * 1e3 for a, b in zip(descriptors(real), descriptors(fake))]


def test_swd_of_a_near_constant_set_matches_a_float64_reference():
    """A collapsed / near-constant generator: grey 200 +- 2 levels. The per-channel statistics
    in float32 drifted by about a grey level (1-2 std here) and made swd_16 ~4.6x too large."""
    def near_constant(seed):
        values = 200 + np.random.default_rng(seed).integers(-2, 3, (256, 32, 32, 3))
        return (values / 127.5 - 1.0).astype(np.float32)
    real, fake = near_constant(0), near_constant(1)
    out = swd.swd(real, fake, projections=128)
    reference = float64_swd(real, fake, projections=128)
    assert [out["swd_32"], out["swd_16"]] == pytest.approx(reference, rel=0.01)


# --- MS-SSIM ----------------------------------------------------------------------------------

def test_msssim_power_factors_fit_small_images():
    assert len(msssim.power_factors(32)) == 2
    assert len(msssim.power_factors(64)) == 3
    assert len(msssim.power_factors(128)) == 4
    assert len(msssim.power_factors(256)) == 5
    for size in (32, 64, 128, 256):
        assert sum(msssim.power_factors(size)) == pytest.approx(1.0)


def test_msssim_of_copies_is_one_and_of_different_images_lower():
    images = blobs(8)
    np.testing.assert_allclose(msssim.ms_ssim(images, images.copy()), 1.0, atol=1e-5)
    assert msssim.ms_ssim(images, blobs(8, seed=5)).max() < 0.9
    collapsed = np.repeat(images[:1], 8, axis=0)  # mode collapse: every sample the same
    assert msssim.diversity(collapsed, pairs=16) == pytest.approx(1.0, abs=1e-5)
    assert msssim.diversity(images, pairs=16) < 0.9
    assert msssim.diversity(images, pairs=16, seed=1) == msssim.diversity(images, pairs=16, seed=1)


# --- Fréchet distance and KID -----------------------------------------------------------------

def test_frechet_distance_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 4))
    b = rng.normal(0, 1, (4000, 4)) * 2 + 1
    # mu diff^2 = 4 * 1; covariances I and 4I: tr(I + 4I - 2 * 2I) = 4 (n large: sample noise)
    assert frechet.frechet_distance(a, b) == pytest.approx(8.0, rel=0.1)
    assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_fid_and_kid_identical_near_zero_shifted_worse_and_deterministic():
    rng = np.random.default_rng(1)
    real = rng.normal(0, 1, (200, 64))
    fresh = rng.normal(0, 1, (200, 64))
    shifted = fresh + 0.5
    same = frechet.fid_kid(real, real)
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert same["kid"] == pytest.approx(0.0, abs=1e-9)
    base, worse = frechet.fid_kid(real, fresh), frechet.fid_kid(real, shifted)
    assert worse["fid"] > base["fid"] + 10 and worse["kid"] > base["kid"] + 0.1
    assert frechet.fid_kid(real, fresh, seed=2) == frechet.fid_kid(real, fresh, seed=2)
    # More dims than samples (singular covariances) still gives a finite, non-negative value.
    assert np.isfinite(frechet.frechet_distance(real[:20], fresh[:20]))


def test_kid_std_is_the_spread_over_disjoint_subsets_and_is_not_zero_for_small_sets():
    rng = np.random.default_rng(4)
    real = rng.normal(0, 1, (1000, 16))
    fresh, shifted = rng.normal(0, 1, (1000, 16)), rng.normal(0.3, 1, (1000, 16))
    same = frechet.kid(real, real)
    assert same == {"kid": 0.0, "kid_std": 0.0}
    for n in (1000, 200):  # n <= subset_size: before, every subset was the whole set (std 0)
        assert frechet.kid(real[:n], fresh[:n])["kid_std"] > 0
        assert frechet.kid(real[:n], shifted[:n])["kid_std"] > 0
    # It depends on the data: farther distributions spread more, and other samples give another value.
    near, far = frechet.kid(real, fresh), frechet.kid(real, shifted)
    assert far["kid_std"] > 2 * near["kid_std"]
    assert frechet.kid(real, rng.normal(0, 1, (1000, 16)))["kid_std"] != near["kid_std"]
    # Unequal set sizes: subsets of the smaller one's share.
    assert frechet.kid(real, shifted[:500])["kid_std"] > 0


def test_kid_std_is_of_the_order_of_the_spread_over_independent_draws_and_kid_is_unbiased():
    """kid_std estimates the spread of one subset's MMD^2 (m = n / 10 samples per set): compare
    with the spread of that estimate over independent draws of m-sample sets, and the spread of
    kid itself (the mean of 10 subsets) with kid_std / sqrt(10)."""
    rng = np.random.default_rng(5)
    n, d, draws, shift = 400, 8, 40, 0.25
    sample = lambda count, mu: rng.normal(mu, 1, (count, d))  # noqa: E731
    results = [frechet.kid(sample(n, 0), sample(n, shift), seed=i) for i in range(draws)]
    kids = np.array([r["kid"] for r in results])
    stds = np.array([r["kid_std"] for r in results])
    one_subset = np.std([frechet.polynomial_mmd2(sample(n // 10, 0), sample(n // 10, shift)) for _ in range(400)])
    assert 0.6 < np.median(stds) / one_subset < 1.6
    assert 0.5 < np.std(kids) / (np.median(stds) / np.sqrt(10)) < 2.0
    # Unbiased: the mean over draws agrees with the MMD^2 of large sets within a few standard errors.
    population = frechet.polynomial_mmd2(sample(4000, 0), sample(4000, shift))
    assert abs(kids.mean() - population) < 4 * np.std(kids) / np.sqrt(draws) + 0.02 * population


# --- The offline feature network --------------------------------------------------------------

@pytest.fixture(scope="module")
def lite0():
    return features.efficientnet_lite0(with_logits=True)


def test_torch_state_dict_reads_without_torch():
    state = torch_weights.load_state_dict(features.lite0_weights_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_conv_stem.weight"].dtype == np.float32
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_efficientnet_lite0_port_matches_the_pytorch_reference(lite0):
    """Logits of the Keras port on scikit-learn's two sample photos, against the reference
    (efficientnet_lite_pytorch + torch 2.13 CPU, same weights file, same 224 px bicubic input)."""
    from sklearn.datasets import load_sample_images
    photos = [np.asarray(Image.fromarray(i).resize((224, 224), Image.BICUBIC)) for i in load_sample_images().images]
    x = np.stack(photos).astype(np.float32) / 127.5 - 1.0
    logits = lite0.model(lite0._preprocess(tf.constant(x)), training=False)[2].numpy()
    # china.jpg: bell cote, boathouse, monastery; flower.jpg: daisy, bee, pot (torch's top 3).
    reference = {(0, 442): 7.777, (0, 449): 7.0749, (0, 663): 6.7359,
                 (1, 985): 6.3376, (1, 309): 5.5582, (1, 738): 4.9803}
    for (i, cls), value in reference.items():
        assert logits[i, cls] == pytest.approx(value, abs=2e-3)
    assert list(np.argsort(-logits, 1)[:, 0]) == [442, 985]


def test_feature_net_shapes_and_fid_on_features(lite0):
    images = blobs(12)
    out = lite0(images, batch_size=5)
    assert out["pool"].shape == (12, 1280) and out["late"].shape == (12, 1280)
    assert out["early"].shape == (12, 8 * 8 * 24)
    np.testing.assert_allclose(lite0(images)["pool"], out["pool"], rtol=1e-5, atol=1e-5)
    other = lite0(blobs(12, seed=3))["pool"]
    blurred = lite0(blur(blobs(12, seed=3), 2.0))["pool"]
    assert frechet.frechet_distance(out["pool"], out["pool"]) == pytest.approx(0.0, abs=1e-3)
    assert frechet.frechet_distance(out["pool"], blurred) > frechet.frechet_distance(out["pool"], other)


def test_inception_path_loads_a_user_weights_file_and_never_downloads(tmp_path):
    with pytest.raises(config.ConfigError, match="fid_weights"):
        features.load("inception_v3", None)
    with pytest.raises(config.ConfigError, match="not found"):
        features.load("inception_v3", str(tmp_path / "missing.h5"))
    path = str(tmp_path / "inception_v3.h5")
    tf.keras.applications.InceptionV3(include_top=False, weights=None, input_shape=[299, 299, 3]).save_weights(path)
    net = features.load("inception_v3", path)
    out = net(blobs(2), batch_size=2)
    assert out["pool"].shape == (2, 2048) and out["early"].shape == (2, 8 * 8 * 256)


def test_torch_weight_reader_refuses_arbitrary_pickled_objects(tmp_path):
    """Nothing unpickles: a weights file that tries to call os.system is refused, not run."""
    import os
    import pickle

    import pytest

    from trainer.quality import torch_weights

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(ValueError, match="unsupported object"):
        torch_weights.load_state_dict(str(path))
    assert not marker.exists()
