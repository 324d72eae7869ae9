"""Mail that comes back after the relay said yes: delivery reports (hard, soft, delayed),
complaints, auto-replies and receipts, classified (`classify`)."""

from digest.bounces.classify import Kind, TooComplex, Verdict, classify, judge

__all__ = ["Kind", "TooComplex", "Verdict", "classify", "judge"]
