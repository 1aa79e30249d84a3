"""Analysis layer: pure pandas / scipy / statsmodels functions. No Dash imports."""
