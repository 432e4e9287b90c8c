"""Method comparisons on virtual failing drives (`station bench`)."""
