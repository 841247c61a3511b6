"""Amazon MSK IAM tokens for SASL/OAUTHBEARER, for the worker (aiokafka) and the tools (kafka-python).

Needs the optional extra ``cxpulse[msk-iam]`` (``aws-msk-iam-sasl-signer-python``); the token is a
SigV4 signature made from the AWS credentials the default chain finds (environment, pod
identity or IRSA on EKS, instance profile), renewed whenever a connection authenticates.
"""

from __future__ import annotations

import asyncio

from aiokafka.abc import AbstractTokenProvider as AsyncTokenProvider
from kafka.net.sasl.oauth import AbstractTokenProvider as SyncTokenProvider


def _signed_token(region: str) -> str:
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    except ImportError as exc:  # pragma: no cover - depends on the extra being installed
        raise RuntimeError(
            "CXPULSE_KAFKA_OAUTH_PROVIDER=aws-msk-iam needs the signer: pip install 'cxpulse[msk-iam]'"
        ) from exc
    token, _expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return str(token)


class MskTokenProvider(SyncTokenProvider):
    """kafka-python's provider: a fresh token per authentication."""

    def __init__(self, region: str) -> None:
        self.region = region

    def token(self) -> str:
        return _signed_token(self.region)


class AsyncMskTokenProvider(AsyncTokenProvider):
    """aiokafka's provider: signing reads credentials (maybe over the network), so off the loop."""

    def __init__(self, region: str) -> None:
        self.region = region

    async def token(self) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, _signed_token, self.region)
