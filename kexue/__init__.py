"""kexue: the models and claims of eight Scientific Spaces (kexue.fm) posts, runnable and tested."""

__version__ = "0.1.0"
