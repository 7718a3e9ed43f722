package policy

// builtinPrefix names built-in policies; users cannot create or change them.
const builtinPrefix = "coffer-"

// selfService is the policy every role holds.
const selfService = "coffer-self-service"

func allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: Allow, Action: actions, Resource: resources}
}

// Resources the built-in policies talk about.
const (
	s3All    = "arn:coffer:s3:::*"
	adminAll = "arn:coffer:admin:::*"
	auditAll = "arn:coffer:audit:::*"
	selfUser = "arn:coffer:admin:::users/${coffer:username}"
)

// bucketConfigRead are reads of bucket configuration, not of object data.
var bucketConfigRead = []string{"s3:ListAllMyBuckets", "s3:GetBucket*", "s3:GetEncryptionConfiguration",
	"s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration", "s3:GetAccelerateConfiguration"}

// builtinPolicies returns the policies behind the built-in roles.
func builtinPolicies() map[string]Document {
	doc := func(s ...Statement) Document { return Document{Version: Version, Statement: s} }
	return map[string]Document{
		"coffer-admin": doc(allow("Everything", []string{"*"}, "*")),
		"coffer-security-admin": doc(
			allow("IdentityKeysConfig", []string{"admin:*"}, adminAll),
			allow("Audit", []string{"audit:*"}, auditAll),
			allow("BucketConfig", bucketConfigRead, s3All),
		),
		"coffer-auditor": doc(
			allow("ReadAudit", []string{"audit:Read*", "audit:Get*", "audit:List*", "audit:Search*", "audit:Verify*", "audit:Prove*"}, auditAll),
			allow("ReadConfig", []string{"admin:Get*", "admin:List*", "admin:Explain*"}, adminAll),
			allow("BucketConfig", bucketConfigRead, s3All),
		),
		"coffer-editor": doc(allow("ReadWriteObjects", []string{
			"s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
			"s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAcl",
			"s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectTagging",
			"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		}, s3All)),
		"coffer-viewer": doc(allow("ReadObjects", []string{
			"s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:ListBucket",
			"s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAcl",
		}, s3All)),
		// A camera crew or an edge device: write, resume its own multipart
		// upload, abort it; never list or read back.
		"coffer-uploader": doc(allow("WriteOnly", []string{
			"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		}, s3All)),
		// Everyone manages their own password, MFA, keys and sessions.
		"coffer-self-service": doc(allow("Self", []string{
			"admin:GetUser", "admin:ChangePassword", "admin:EnrollMFA", "admin:VerifyMFA",
			"admin:CreateAccessKey", "admin:ListAccessKeys", "admin:DeleteAccessKey",
			"admin:ListSessions", "admin:RevokeSession",
		}, selfUser)),
	}
}

// builtinRoles are the roles every installation starts with. They cannot be
// edited; an operator copies one (PutRole with the same policies) to change it.
func builtinRoles() []Role {
	role := func(name string, mfa bool, policies ...string) Role {
		return Role{Name: name, Policies: append(policies, "coffer-self-service"), MFAAtLogin: mfa, Builtin: true}
	}
	return []Role{
		role("admin", true, "coffer-admin"),
		role("security-admin", true, "coffer-security-admin"),
		role("auditor", false, "coffer-auditor"),
		role("editor", false, "coffer-editor"),
		role("viewer", false, "coffer-viewer"),
		role("uploader", false, "coffer-uploader"),
	}
}
