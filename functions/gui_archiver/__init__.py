"""Archiver: items that DynamoDB's TTL removes, read from the store's stream, kept in S3."""
