// Package cli is Coffer's command-line client, modelled on MinIO's mc.
//
// One entry point, Run, executes one invocation: `coffer put`, `coffer get`,
// `coffer ls` and the rest. cmd/coffer only hands it the arguments, the
// standard streams and the environment, so every command is testable
// in-process.
//
// Every S3 call goes through minio-go (github.com/minio/minio-go/v7); the
// admin commands (`coffer key ...`) speak the server's JSON admin plane under
// /admin/v1/, signed with SigV4 by minio-go's signer. Server profiles
// ("aliases") live in config.json in the configuration directory
// ($COFFER_CONFIG_DIR, else $XDG_CONFIG_HOME/coffer, else ~/.config/coffer),
// written atomically with mode 0600.
//
// Remote paths are ALIAS/BUCKET/KEY, exactly as in mc; local files are plain
// paths. Large uploads are parallel multipart uploads that resume after an
// interruption (parts already on the server are checked against the MD5 of
// the local bytes and skipped); downloads resume from FILE.part with a Range
// request and are verified before they are renamed into place.
//
// Exit codes: 0 success, 1 operation failure, 2 usage error. Errors are
// printed to stderr as "coffer: <message>"; secrets are never printed except
// by `coffer alias ls --show-secrets`.
package cli
