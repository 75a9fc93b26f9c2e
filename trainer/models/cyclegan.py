"""CycleGAN (Zhu et al. 2017) and DiscoGAN (Kim et al. 2017): unpaired translation between two
image domains A and B with two generators and two discriminators. One code path; the papers
differ only in config keys (configs/cyclegan_*.yaml, configs/discogan_64.yaml).

features = {'a': [batch, R, R, 3], 'b': [batch, R, R, 3]} float32 in [-1, 1] (two independently
shuffled streams; in eval also 'has_pair' float32 [batch], 1.0 when b is a's true counterpart,
as from a paired dataset); labels = None (the real images are the features).
Networks (trainer/models/cyclegan_networks.py): generator/a2b (G: A -> B), generator/b2a
(F: B -> A), discriminator/a (real A vs F(b)), discriminator/b (real B vs G(a)).

Losses, with `gan_loss` 'lsgan' (CycleGAN) or 'sigmoid_ce' (DiscoGAN) and `cycle_norm` l1 | l2:
- D: da_loss = (da_loss_real + da_loss_fake) / 2 on a vs a pooled F(b); db_loss likewise;
  d_loss = da_loss + db_loss. Fakes pass through the image pool (trainer/image_pool.py,
  `pool_size` images per domain, variables image_pool/a and image_pool/b; pool_size 0 = off;
  only updated in training).
- G: g_loss_a2b = GAN(D_B(G(a))) + cycle_weight * |F(G(a)) - a| [+ identity term of G:
  cycle_weight * identity_weight * |G(b) - b|]; g_loss_b2a symmetric; g_loss = their sum.
  identity_weight is relative to cycle_weight, as CycleGAN's lambda_identity (0.5 -> 5 * L1).
  The seed's (DiscoGAN) g_loss_a2b and g_loss_b2a are these sums with cycle_weight 1 and l2.
Scalars: those, plus g_gan_a2b, g_gan_b2a, cycle_loss_a, cycle_loss_b and, with identity,
identity_loss_a (|F(a) - a|) and identity_loss_b (unweighted). Images: rows a | G(a) | F(G(a))
('a2b2a') and b | F(b) | G(F(b)) ('b2a2b').
Eval metrics (per example, mean |difference| in [-1, 1] units): cycle_l1_a, cycle_l1_b, and
l1_a2b_vs_b, l1_b2a_vs_a against the true counterpart; those two are NaN for examples without
one (has_pair 0), so they are NaN in metrics.json when the eval data are unpaired.
Predict: a, a2b, a2b2a, b, b2a, b2a2b (float32 in [-1, 1]). Export: signatures 'a2b' (also the default) and
'b2a', each image_bytes tf.string [None] (PNG/JPEG, any size, resized to R) -> png_bytes tf.string
[None] (PNG; named so that TF Serving's REST API returns it base64-encoded).
"""
import tensorflow as tf

from trainer import image_pool
from trainer.data.schema import DataMode
from trainer.fields import Field
from trainer.models import GanModel, LossOutput, Translation, image_to_image, losses, quality_fields
from trainer.models import cyclegan_networks as networks_lib
from trainer.models.layers import NORMS

RESOLUTIONS = (64, 128, 256)
G_AB, G_BA, D_A, D_B = "generator/a2b", "generator/b2a", "discriminator/a", "discriminator/b"

CONFIG_FIELDS = {
    "gf_dim": Field(64, int, min_value=1, arch=True, help="generator width at the first layer"),
    "df_dim": Field(64, int, min_value=1, arch=True, help="discriminator width at the first layer"),
    "generator": Field("resnet", str, choices=networks_lib.GENERATORS, arch=True,
                       help="resnet (CycleGAN) or encoder_decoder (DiscoGAN)"),
    "resnet_blocks": Field(9, int, min_value=1, arch=True, help="residual blocks of the resnet generator"),
    "discriminator": Field("patchgan", str, choices=networks_lib.DISCRIMINATORS, arch=True,
                           help="patchgan (70x70 patches, CycleGAN) or discogan (one logit)"),
    "norm": Field("instance", str, choices=NORMS, arch=True, help="normalisation in all four networks"),
    "gan_loss": Field("lsgan", str, choices=losses.GAN_LOSSES),
    "cycle_norm": Field("l1", str, choices=losses.RECONSTRUCTION_NORMS,
                        help="distance of the cycle (and identity) reconstructions"),
    "cycle_weight": Field(10.0, float, min_value=0.0, help="weight of each cycle-consistency term"),
    "identity_weight": Field(0.5, float, min_value=0.0,
                             help="identity loss weight relative to cycle_weight; 0 = off"),
    "pool_size": Field(50, int, min_value=0, help="fakes kept per domain for D; 0 = no pool"),
    "random_jitter": Field(True, bool, help="training: resize to R*286/256, random RxR crop"),
    "random_flip": Field(True, bool, help="training: random horizontal flips"),
    **quality_fields.TRANSLATION_FIELDS,
}


def networks(cfg):
    return {G_AB: lambda: networks_lib.make_generator(cfg, "generator_a2b"),
            G_BA: lambda: networks_lib.make_generator(cfg, "generator_b2a"),
            D_A: lambda: networks_lib.make_discriminator(cfg, "discriminator_a"),
            D_B: lambda: networks_lib.make_discriminator(cfg, "discriminator_b")}


def make_inputs(example, cfg, training):
    a, b = example["a"], example["b"]
    if training:
        res, jitter, flip = cfg["resolution"], cfg["random_jitter"], cfg["random_flip"]
        augment = image_to_image.augment  # each domain on its own
        return {"a": augment(a, res, jitter, flip), "b": augment(b, res, jitter, flip)}, None
    return {"a": a, "b": b, "has_pair": tf.cast(example["has_pair"], tf.float32)}, None


def _d_terms(net, real, fake, cfg, training, prefix):
    real_loss, fake_loss = losses.discriminator_losses(net(real, training=training), net(fake, training=training),
                                                       cfg["gan_loss"])
    loss = 0.5 * (real_loss + fake_loss)
    return loss, {prefix: loss, prefix + "_real": real_loss, prefix + "_fake": fake_loss}


def discriminator_loss(nets, features, labels, cfg, training):
    a, b = features["a"], features["b"]
    fake_b = tf.stop_gradient(nets[G_AB](a, training=training))
    fake_a = tf.stop_gradient(nets[G_BA](b, training=training))
    if training:  # eval leaves the pools untouched (and does not create them)
        seed, size = cfg["seed"], cfg["pool_size"]
        fake_a = image_pool.query(fake_a, size, "image_pool/a", seed=2 * seed)
        fake_b = image_pool.query(fake_b, size, "image_pool/b", seed=2 * seed + 1)
    da_loss, da_scalars = _d_terms(nets[D_A], a, fake_a, cfg, training, "da_loss")
    db_loss, db_scalars = _d_terms(nets[D_B], b, fake_b, cfg, training, "db_loss")
    return LossOutput(da_loss + db_loss, {**da_scalars, **db_scalars})


def generator_loss(nets, features, labels, cfg, training):
    a, b = features["a"], features["b"]
    g, f = nets[G_AB], nets[G_BA]
    a2b, b2a = g(a, training=training), f(b, training=training)
    a2b2a, b2a2b = f(a2b, training=training), g(b2a, training=training)
    kind, norm, weight = cfg["gan_loss"], cfg["cycle_norm"], cfg["cycle_weight"]
    gan_a2b = losses.generator_loss(nets[D_B](a2b, training=training), kind)
    gan_b2a = losses.generator_loss(nets[D_A](b2a, training=training), kind)
    cycle_a = losses.reconstruction_loss(a2b2a, a, norm)
    cycle_b = losses.reconstruction_loss(b2a2b, b, norm)
    g_a2b, g_b2a = gan_a2b + weight * cycle_a, gan_b2a + weight * cycle_b
    scalars = {"g_gan_a2b": gan_a2b, "g_gan_b2a": gan_b2a, "cycle_loss_a": cycle_a, "cycle_loss_b": cycle_b}
    if cfg["identity_weight"] > 0:
        identity_a = losses.reconstruction_loss(f(a, training=training), a, norm)
        identity_b = losses.reconstruction_loss(g(b, training=training), b, norm)
        g_a2b += weight * cfg["identity_weight"] * identity_b
        g_b2a += weight * cfg["identity_weight"] * identity_a
        scalars.update(identity_loss_a=identity_a, identity_loss_b=identity_b)
    scalars.update(g_loss_a2b=g_a2b, g_loss_b2a=g_b2a)
    images = {"a2b2a": tf.concat([a, a2b, a2b2a], axis=2), "b2a2b": tf.concat([b, b2a, b2a2b], axis=2)}
    return LossOutput(g_a2b + g_b2a, scalars, images)


def _translations(nets, features):
    a, b = features["a"], features["b"]
    a2b, b2a = nets[G_AB](a, training=False), nets[G_BA](b, training=False)
    return {"a": a, "a2b": a2b, "a2b2a": nets[G_BA](a2b, training=False),
            "b": b, "b2a": b2a, "b2a2b": nets[G_AB](b2a, training=False)}


def predict(nets, features, cfg):
    """-> float32 [batch, R, R, 3] in [-1, 1] for each of GRID_COLUMNS."""
    return _translations(nets, features)


def eval_metrics(nets, features, labels, cfg):
    t = _translations(nets, features)
    l1 = lambda x, y: losses.per_example_mean(tf.abs(x - y))
    has_pair = features["has_pair"] > 0.5
    paired = lambda value: tf.where(has_pair, value, tf.fill(tf.shape(value), float("nan")))
    return {"cycle_l1_a": l1(t["a2b2a"], t["a"]), "cycle_l1_b": l1(t["b2a2b"], t["b"]),
            "l1_a2b_vs_b": paired(l1(t["a2b"], t["b"])), "l1_b2a_vs_a": paired(l1(t["b2a"], t["a"]))}


def features_from_image(image, cfg):
    """A plain folder's image is translated both ways (as an A and as a B image)."""
    return {"a": image, "b": image}


def serving_inputs(cfg):
    """Receiver: 'image_bytes' tf.string [None] of encoded images (any size; resized to R)."""
    receivers, images = image_to_image.image_bytes_receiver(cfg["resolution"])
    return receivers, {"a": images, "b": images}


def serving_outputs(nets, features, cfg):
    """Signatures 'a2b' and 'b2a': image_bytes -> 'png_bytes' tf.string [None], R x R
    translations as PNG (called 'png' before; see image_to_image.PNG_OUTPUT)."""
    return {"a2b": image_to_image.png_outputs(nets[G_AB](features["a"], training=False)),
            "b2a": image_to_image.png_outputs(nets[G_BA](features["b"], training=False))}


def _test_time(generator, images):
    return generator(images, training=False)  # as predict


def output_domains(cfg):
    """Both directions: a2b (G(a) against real b) and b2a (F(b) against real a)."""
    return (Translation("a2b", G_AB, "a", "b", _test_time), Translation("b2a", G_BA, "b", "a", _test_time))


GRID_COLUMNS = ("a", "a2b", "a2b2a", "b", "b2a", "b2a2b")

MODEL = GanModel(
    name="cyclegan", resolutions=RESOLUTIONS, data_mode=DataMode.UNPAIRED, config_fields=CONFIG_FIELDS,
    networks=networks, make_inputs=make_inputs, discriminator_loss=discriminator_loss,
    generator_loss=generator_loss, predict=predict, eval_metrics=eval_metrics,
    serving_inputs=serving_inputs, serving_outputs=serving_outputs, grid_columns=GRID_COLUMNS,
    features_from_image=features_from_image, translations=output_domains)
