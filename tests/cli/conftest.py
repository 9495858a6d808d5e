"""The backup CLI tests share the S3 server fixture of the engine tests."""

from tests.backup.conftest import s3_endpoint

__all__ = ["s3_endpoint"]
