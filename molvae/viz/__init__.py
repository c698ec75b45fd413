"""Pictures: molecule grids, plots and the HTML report."""
