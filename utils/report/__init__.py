"""What people read: diagnostics, figures, the HTML and PDF report."""
