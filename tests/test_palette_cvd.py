"""The arm palette stays distinct under the three common colour-vision deficiencies.

Each arm colour is passed through the Machado, Oliveira & Fernandes (2009) simulation of protanopia,
deuteranopia and tritanopia (severity 1, on linear RGB), then to CIELAB (D65); the closest pair of arms is
reported as CIE76 dE and CIEDE2000 dE (the issue measured CIE76 dE 17 between belimumab's blue and the
combination's green under tritanopia). Markers and dashes separate arms too; this checks colour alone.
"""

import itertools

import numpy as np
import pytest

from data.adam import ARM_PALETTE
from tests.conftest import REPORT

MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
VIEWS = ("normal vision", *MACHADO)
MIN_DE76 = 30  # the LSO-088 arms (first three): well apart in every view
MIN_DE76_ALL = 20  # all six colours


def linear(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear) -> np.ndarray:
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ np.clip(rgb_linear, 0, 1)
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(hex_colour: str, view: str) -> np.ndarray:
    rgb = linear(hex_colour)
    return lab(rgb if view == "normal vision" else np.array(MACHADO[view]) @ rgb)


def de2000(l1, l2) -> float:
    """CIEDE2000 (Sharma, Wu & Dalal 2005)."""
    (L1, a1, b1), (L2, a2, b2) = l1, l2
    cbar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(cbar ** 7 / (cbar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 - 360 if h2 - h1 > 180 else h2 - h1 + 360 if h2 - h1 < -180 else h2 - h1)
    dH = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    lbar, cbarp = (L1 + L2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        hbar = h1 + h2
    elif abs(h1 - h2) <= 180:
        hbar = (h1 + h2) / 2
    else:
        hbar = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(hbar - 30)) + 0.24 * np.cos(np.radians(2 * hbar))
         + 0.32 * np.cos(np.radians(3 * hbar + 6)) - 0.20 * np.cos(np.radians(4 * hbar - 63)))
    rc = 2 * np.sqrt(cbarp ** 7 / (cbarp ** 7 + 25 ** 7))
    rt = -np.sin(np.radians(60 * np.exp(-(((hbar - 275) / 25) ** 2)))) * rc
    sl = 1 + 0.015 * (lbar - 50) ** 2 / np.sqrt(20 + (lbar - 50) ** 2)
    sc, sh = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    dL, dC = L2 - L1, c2 - c1
    return float(np.sqrt((dL / sl) ** 2 + (dC / sc) ** 2 + (dH / sh) ** 2 + rt * (dC / sc) * (dH / sh)))


def closest(colours, view):
    pairs = [(float(np.linalg.norm(seen(a, view) - seen(b, view))), de2000(seen(a, view), seen(b, view)), a, b)
             for a, b in itertools.combinations(colours, 2)]
    return min(pairs)


def contrast_on_white(hex_colour: str) -> float:
    y = float(np.dot([0.2126, 0.7152, 0.0722], linear(hex_colour)))
    return 1.05 / (y + 0.05)


def test_simulation_reproduces_the_issue_measurement():
    """The old blue and green under tritanopia: the issue's dE 17 (a check of the simulation itself)."""
    de76, _, _, _ = closest(["#0072B2", "#009E73"], "tritanopia")
    assert 15 < de76 < 19


@pytest.mark.parametrize("n, floor", [(3, MIN_DE76), (len(ARM_PALETTE), MIN_DE76_ALL)])
def test_arm_colours_stay_apart_under_each_deficiency(n, floor):
    colours = [dark for dark, _ in ARM_PALETTE[:n]]
    for view in VIEWS:
        de76, de00, a, b = closest(colours, view)
        REPORT.append(f"arm palette ({n} arms), {view}: closest pair {a}/{b} dE76 {de76:.1f}, dE2000 {de00:.1f}")
        assert de76 >= floor, f"{view}: {a} and {b} only dE76 {de76:.1f} apart"


def test_arm_colours_have_graphics_contrast_on_white():
    """WCAG 1.4.11: lines and markers need 3:1 against the white plot background."""
    low = {dark: round(contrast_on_white(dark), 2) for dark, _ in ARM_PALETTE if contrast_on_white(dark) < 3}
    assert not low


def test_the_study_uses_the_palette(study):
    assert [a.colour.upper() for a in study.arms] == [d.upper() for d, _ in ARM_PALETTE[:len(study.arms)]]
