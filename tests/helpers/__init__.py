"""What several test modules share: processes and ports (`processes`), and more as modules
of this package. Test modules import from here, never from each other."""
