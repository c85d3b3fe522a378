"""FITS at the telescope: read frames and cutouts, render flux to the model's input, find and classify galaxies.

Nothing here imports astropy or sep at module level: they are imported inside the functions that
read a FITS file or search a frame, so classifying a JPEG never loads them.

  options.py    what `field` can be told, with its defaults (standard library only)
  read.py       astropy.io.fits: the first image HDU, checked from its header before the pixels are read
  render.py     the one rendering from linear flux to uint8 RGB (sigma-clipped sky, Lupton et al. 2004 asinh)
  detect.py     sep: background, detection with deblending, measurements, star/galaxy separation, flags
  field.py      frame -> cutouts -> classifier -> catalogue rows; or the cutouts at given positions
  positions.py  catalogues of targets (a frame and x,y or ra,dec per row) for `field --positions`
  catalogue.py  CSV and JSON Lines catalogues written frame by frame (resumable), FITS tables written atomically
  preview.py    the frame, stretched, with a labelled box on each galaxy
"""
