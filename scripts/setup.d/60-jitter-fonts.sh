# A TrueType font for the labels of `parla jitter eval`'s plot (plotters draws text with ab_glyph).
apt_install fonts-dejavu-core
