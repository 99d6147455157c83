"""The standard LV cable and overhead conductor types a network model may use.

Pure. The names are pandapower's standard line types (so the power flow takes their resistance,
reactance and current rating from pandapower's own table); the labels say what they are.
"""

from __future__ import annotations

CABLE_TYPES: dict[str, str] = {
    "NAYY 4x50 SE": "Underground Al 4x50 mm² (NAYY), a typical service cable",
    "NAYY 4x120 SE": "Underground Al 4x120 mm² (NAYY)",
    "NAYY 4x150 SE": "Underground Al 4x150 mm² (NAYY), a typical LV main",
    "15-AL1/3-ST1A 0.4": "Overhead ACSR 15 mm²",
    "24-AL1/4-ST1A 0.4": "Overhead ACSR 24 mm²",
    "48-AL1/8-ST1A 0.4": "Overhead ACSR 48 mm²",
    "94-AL1/15-ST1A 0.4": "Overhead ACSR 94 mm², a typical pole-mounted LV main",
}
SERVICE_CABLE = "NAYY 4x50 SE"
