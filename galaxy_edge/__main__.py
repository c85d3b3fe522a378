from galaxy_edge.cli import main

main()
