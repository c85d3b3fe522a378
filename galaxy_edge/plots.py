"""Pictures drawn with Pillow alone, so the device can draw them too (no matplotlib there)."""

import io

from PIL import Image, ImageDraw, ImageFont


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap font size
        return ImageFont.load_default()


def confusion_matrix_png(matrix, class_names, title="confusion matrix"):
    """A labelled confusion-matrix heat map (rows true, columns predicted), as PNG bytes."""
    n = len(class_names)
    cell, left, top = 90, 110, 70
    im = Image.new("RGB", (left + n * cell + 20, top + n * cell + 40), "white")
    d = ImageDraw.Draw(im)
    font, small = _font(14), _font(12)
    d.text((10, 10), title, fill="black", font=font)
    d.text((left, top - 40), "predicted", fill="black", font=small)
    d.text((10, top + n * cell + 12), "rows: true class", fill="black", font=small)
    row_totals = [max(sum(r), 1) for r in matrix]
    for i in range(n):
        d.text((10, top + i * cell + cell // 2 - 7), class_names[i], fill="black", font=small)
        d.text((left + i * cell + 6, top - 20), class_names[i], fill="black", font=small)
        for j in range(n):
            frac = matrix[i][j] / row_totals[i]
            shade = int(255 - 200 * frac)
            x0, y0 = left + j * cell, top + i * cell
            d.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=(shade, shade, 255))
            ink = "white" if frac > 0.5 else "black"
            d.text((x0 + 8, y0 + cell // 2 - 16), f"{matrix[i][j]}", fill=ink, font=font)
            d.text((x0 + 8, y0 + cell // 2 + 2), f"{frac:.0%}", fill=ink, font=small)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
