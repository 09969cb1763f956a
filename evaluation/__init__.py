"""Offline evaluation of Churnwatch against simulator ground truth and BTYD baselines."""
