"""
Colour segmentation of an image
===============================

Each pixel is a point in RGB space; a mixture chosen by BIC groups the pixels
into colours, and each pixel is replaced by the mean colour of its component.
The image is matplotlib's sample photograph of Grace Hopper (shipped with
matplotlib, no download), or a generated one where it is missing.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixtureSelection

small = os.environ.get("FASTGMM_EXAMPLES_SMALL") == "1"
out_dir = os.environ.get("FASTGMM_EXAMPLES_OUT", tempfile.gettempdir())


def load_image():
    try:
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return plt.imread(f, format="jpg").astype(np.float64) / 255
    except Exception:   # no sample data installed: three coloured discs on a gradient
        yy, xx = np.mgrid[0:200, 0:200] / 200
        img = np.stack([xx, yy, 0.5 * np.ones_like(xx)], axis=-1) * 0.5
        for (cy, cx), colour in zip([(0.3, 0.3), (0.6, 0.7), (0.75, 0.3)], [(1, 0, 0), (0, 0.8, 0), (0, 0, 1)]):
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 0.02] = colour
        return img + np.random.default_rng(0).normal(0, 0.02, img.shape)


image = load_image()
step = 8 if small else 2       # subsample the pixels (every step-th row and column)
image = image[::step, ::step, :3]
pixels = image.reshape(-1, 3)

sel = GaussianMixtureSelection(n_components=range(2, 5) if small else range(2, 9),
                               covariance_types=("full",), random_state=0).fit(pixels)
gm = sel.best_estimator_
print(f"{pixels.shape[0]} pixels, K chosen by BIC: {sel.best_params_['n_components']}")

labels = gm.predict(pixels)
segmented = np.clip(gm.means_[labels], 0, 1).reshape(image.shape)
path = os.path.join(out_dir, "segmented.png")
plt.imsave(path, segmented)
print("segmented image saved to", path)

# %%
fig, (a, b) = plt.subplots(1, 2, figsize=(8, 4))
a.imshow(np.clip(image, 0, 1))
a.set_title("image")
b.imshow(segmented)
b.set_title(f"{gm.n_components} colours")
for ax in (a, b):
    ax.set_axis_off()
plt.show()
