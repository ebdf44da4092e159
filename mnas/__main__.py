from mnas.cli import run

run()
