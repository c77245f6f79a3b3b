from clientevents.cli import main

main()
