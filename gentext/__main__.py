"""`python -m gentext` (and so `torchrun -m gentext`, `accelerate launch -m gentext`)."""

from gentext_cli.app import main

if __name__ == "__main__":
    main()
