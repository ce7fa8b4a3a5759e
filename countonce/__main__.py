from countonce.cli import main

main()
