from hwnas.cli.main import entry

entry()
