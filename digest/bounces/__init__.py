"""Mail that comes back after the relay said yes: delivery reports (hard, soft, delayed),
complaints, auto-replies and receipts, classified (`classify`)."""

from digest.bounces.classify import classify, judge, understand
from digest.bounces.patterns import Reason
from digest.bounces.verdicts import Kind, Verdict
from digest.errors import TooComplex

__all__ = ["Kind", "Reason", "TooComplex", "Verdict", "classify", "judge", "understand"]
