"""The NZ grid's emission factor for electricity bought from the grid.

An annual, location-based factor: NZ publishes no official half-hourly factor (the Ministry's
guide gives annual figures and, from 2022, quarterly ones), so a study's emissions are its
grid import times this one number. It is the latest full year in the guide.
"""

from __future__ import annotations

from lab.core.results import EmissionFactor

NZ_GRID_2024 = EmissionFactor(
    kg_per_kwh=0.1011189484,
    source=(
        "Ministry for the Environment, Measuring emissions: a guide for organisations (2025), "
        "purchased electricity, 'Electricity used - 2024', kg CO2-e/kWh (location-based)"
    ),
    year=2024,
    url="https://measuringemissionsguide.environment.govt.nz/5_purchased_energy.html",
)
