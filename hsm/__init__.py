"""airgap-signer."""
