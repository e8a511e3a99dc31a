from censorcheck.cli import main

main()
