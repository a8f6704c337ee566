"""Tests of kexue/report (a package, so its helpers import as `.sample`)."""
