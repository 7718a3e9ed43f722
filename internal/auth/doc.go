// Package auth owns how Coffer proves who someone is: password hashing
// (argon2id, parameters stored with each hash so they can rise later) and
// the password rules of NIST SP 800-63B, TOTP second factors (RFC 6238) with
// replay protection, and single-use recovery codes stored only as hashes.
//
// This file set holds the primitives. Users, sessions, lockout and the admin
// API that use them arrive with the identity work (issue 4); they build on
// these functions and never handle a password or a second factor another way.
package auth
