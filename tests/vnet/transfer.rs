//! `transfer`: digests, the bucket's rate, streams sharing a bucket.
