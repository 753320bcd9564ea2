"""xemu: a local emulator of the X (Twitter) Account Activity API and a CCM stand-in.

Run with ``PYTHONPATH=tools python -m xemu --help``. See docs/emulator.md.
"""

__version__ = '1.0.0'
