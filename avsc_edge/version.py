"""The SDK version: the single source (pyproject reads it); artifacts record it and a different
major.minor is refused."""
__version__ = "0.4.2"   # 0.4.2: SF pair features, the designed synthetic world; 0.4.1: the edge preset, backbone registry (0.4: the cross-attention runs in the CEOA space; 0.3: base reads inputs as its references)
