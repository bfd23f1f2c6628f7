from azdiag.cli import main

main()
