"""Not tests: the servers the tests talk to, each a real implementation run on 127.0.0.1 (an LMS
platform for LTI 1.3, identity providers for OpenID Connect and SAML)."""
