"""Adversarial input for the end-to-end tests: lines a hostile or broken producer sends."""
