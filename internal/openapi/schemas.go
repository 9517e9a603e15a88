package openapi

import (
	"slices"
	"strings"
)

// This file is the one place where request and response schemas live.
//
// To describe a route, add one line to operations(), keyed by the route's
// method and path exactly as the route table declares them, e.g.
//
//	"GET /api/0/organizations/{org}/releases/": {Response: list("Release")},
//
// and, for a new shape, its schema to components(). A test checks that
// every key names a route of the all-in-one server's table.

// operations is the registry: what the document says of each route beyond
// what the route table says.
func operations() map[string]Op {
	cursor := []Param{{Name: "cursor", Description: "Paging: the cursor of a `Link` header."}}
	issueQuery := []Param{
		{Name: "query", Description: "Sentry's search, e.g. `is:unresolved`."},
		{Name: "sort", Description: "`date` (last seen, the default), `new`, `freq` or `user`."},
		{Name: "statsPeriod", Description: "`24h` (the default, also when empty) or `14d`: every issue carries its `stats`."},
		{Name: "start", Description: "With `end`: only issues with events in the range (ISO 8601), counted in it."},
		{Name: "end", Description: "With `start`: the range's end (ISO 8601)."},
		{Name: "limit"}, {Name: "environment", Repeated: true}, cursor[0],
		{Name: "expand", Description: "`firstRelease`: every issue carries the release it was first seen in (`{version, shortVersion}` or null).", Repeated: true},
	}
	rangeQuery := []Param{
		{Name: "statsPeriod", Description: "The range ending now (`24h`, `14d`, `30d`...): only issues with events in it, counted in it."},
		{Name: "start", Description: "With `end`, instead of `statsPeriod`: the range's start (ISO 8601)."},
		{Name: "end", Description: "The range's end (ISO 8601)."},
	}
	orgIssueQuery := append(slices.Clone(issueQuery[:2]), rangeQuery...)
	orgIssueQuery = append(orgIssueQuery, Param{Name: "groupStatsPeriod", Description: "The graph: `24h`, `14d` or `auto` (the default)."},
		Param{Name: "limit"}, Param{Name: "environment", Repeated: true}, cursor[0], issueQuery[len(issueQuery)-1])
	environment := object(map[string]any{"id": typ("string"), "name": typ("string"), "isHidden?": typ("boolean")})
	unmergeQuery := []Param{{Name: "id", Description: "A hash of the issue (`GET .../hashes/`) to split off; at most 100.", Repeated: true}}
	visibility := []Param{{Name: "visibility", Description: "`visible` (the default), `hidden` (none is) or `all`."}}
	return map[string]Op{
		// Organizations, teams, members.
		"GET /api/0/organizations/":                           {Response: list("Organization")},
		"POST /api/0/organizations/":                          {Request: ref("SlugBody"), Response: ref("Organization"), Status: 201},
		"GET /api/0/organizations/{org}/":                     {Response: ref("Organization")},
		"PUT /api/0/organizations/{org}/":                     {Response: ref("Organization")},
		"GET /api/0/organizations/{org}/teams/":               {Response: list("Team")},
		"POST /api/0/organizations/{org}/teams/":              {Request: ref("SlugBody"), Response: ref("Team"), Status: 201},
		"GET /api/0/organizations/{org}/members/":             {Response: list("Member")},
		"POST /api/0/organizations/{org}/members/":            {Request: ref("MemberBody"), Response: ref("Member"), Status: 201, Also: []int{200}},
		"GET /api/0/organizations/{org}/members/{member_id}/": {Response: ref("Member")},
		"PUT /api/0/organizations/{org}/members/{member_id}/": {Request: ref("MemberBody"), Response: ref("Member")},

		// Projects.
		"GET /api/0/projects/": {Response: list("Project"), Query: cursor},
		"GET /api/0/organizations/{org}/projects/": {Response: list("Project"), Query: append(cursor, Param{Name: "statsPeriod",
			Description: "`24h` adds each project's events per hour (`stats`) and its unresolved issues (`unresolvedCount`)."})},
		"GET /api/0/organizations/{org}/issues-count/": {Response: map[string]any{"type": "object", "additionalProperties": typ("integer")},
			Query: append([]Param{{Name: "query", Description: "Sentry's issue search; one count per query.", Repeated: true},
				{Name: "environment", Repeated: true}, {Name: "project", Description: "A project id.", Repeated: true}}, rangeQuery...)},
		"POST /api/0/teams/{org}/{team}/projects/": {Request: ref("SlugBody"), Response: ref("Project"), Status: 201},
		"GET /api/0/projects/{org}/{project}/":     {Response: ref("Project")},
		"PUT /api/0/projects/{org}/{project}/":     {Response: ref("Project")},

		// Environments.
		"GET /api/0/organizations/{org}/environments/": {Response: arrayOf(environment),
			Query: append([]Param{{Name: "project", Description: "A project id.", Repeated: true}}, visibility...)},
		"GET /api/0/projects/{org}/{project}/environments/": {Response: arrayOf(environment), Query: visibility},

		// Issues and events.
		"GET /api/0/projects/{org}/{project}/issues/":                   {Response: list("IssueListItem"), Query: issueQuery},
		"GET /api/0/issues/{id}/":                                       {Response: ref("IssueDetail")},
		"PUT /api/0/issues/{id}/":                                       {Request: ref("IssueUpdate"), Response: ref("Issue"), Also: []int{204}, Description: discardDesc},
		"GET /api/0/organizations/{org}/issues/{id}/":                   {Response: ref("IssueDetail")},
		"PUT /api/0/organizations/{org}/issues/{id}/":                   {Request: ref("IssueUpdate"), Response: ref("Issue"), Also: []int{204}, Description: discardDesc},
		"GET /api/0/issues/{id}/events/":                                {Response: list("Event"), Query: eventQuery()},
		"GET /api/0/organizations/{org}/issues/{id}/events/":            {Response: list("Event"), Query: eventQuery()},
		"GET /api/0/issues/{id}/events/{event_id}/":                     {Response: ref("EventDetail"), Description: eventIDDesc},
		"GET /api/0/organizations/{org}/issues/{id}/events/{event_id}/": {Response: ref("EventDetail"), Description: eventIDDesc},
		"GET /api/0/projects/{org}/{project}/events/{event_id}/":        {Response: ref("EventDetail")},

		// The issue workflow: comments (Sentry's notes) and activity.
		"GET /api/0/issues/{id}/comments/":                                     {Response: list("Note")},
		"POST /api/0/issues/{id}/comments/":                                    {Request: ref("NoteBody"), Response: ref("Note"), Status: 201},
		"PUT /api/0/issues/{id}/comments/{comment_id}/":                        {Request: ref("NoteBody"), Response: ref("Note")},
		"DELETE /api/0/issues/{id}/comments/{comment_id}/":                     {Empty: true, Status: 204},
		"GET /api/0/issues/{id}/activities/":                                   {Response: object(map[string]any{"activity": list("Activity")})},
		"GET /api/0/organizations/{org}/issues/{id}/comments/":                 {Response: list("Note")},
		"POST /api/0/organizations/{org}/issues/{id}/comments/":                {Request: ref("NoteBody"), Response: ref("Note"), Status: 201},
		"PUT /api/0/organizations/{org}/issues/{id}/comments/{comment_id}/":    {Request: ref("NoteBody"), Response: ref("Note")},
		"DELETE /api/0/organizations/{org}/issues/{id}/comments/{comment_id}/": {Empty: true, Status: 204},
		"GET /api/0/organizations/{org}/issues/{id}/activities/":               {Response: object(map[string]any{"activity": list("Activity")})},

		// Merge and unmerge (issue 19): an issue's hashes, split off into a
		// new issue by a job (done in the request when small).
		"GET /api/0/issues/{id}/hashes/":                        {Response: list("IssueHash")},
		"GET /api/0/organizations/{org}/issues/{id}/hashes/":    {Response: list("IssueHash")},
		"DELETE /api/0/issues/{id}/hashes/":                     {Response: ref("Job"), Status: 202, Query: unmergeQuery, Description: unmergeDesc},
		"DELETE /api/0/organizations/{org}/issues/{id}/hashes/": {Response: ref("Job"), Status: 202, Query: unmergeQuery, Description: unmergeDesc},
		"GET /api/0/organizations/{org}/deletions/":             {Response: list("Job")},
		"GET /api/0/deletions/{id}/":                            {Response: ref("Job")},

		// Tokens.
		"GET /api/0/api-tokens/":                                        {Response: list("ApiToken")},
		"POST /api/0/api-tokens/":                                       {Request: ref("TokenBody"), Response: ref("NewApiToken"), Status: 201},
		"DELETE /api/0/api-tokens/":                                     {Request: ref("TokenDelete"), Empty: true, Status: 204},
		"GET /api/0/organizations/{org}/org-auth-tokens/":               {Response: list("ApiToken")},
		"POST /api/0/organizations/{org}/org-auth-tokens/":              {Request: ref("TokenBody"), Response: ref("NewApiToken"), Status: 201},
		"DELETE /api/0/organizations/{org}/org-auth-tokens/{token_id}/": {Empty: true, Status: 204},

		// Releases.
		"GET /api/0/organizations/{org}/releases/{version}/deploys/": {Response: list("Deploy"),
			Query: []Param{{Name: "project", Description: "A project id.", Repeated: true}}},
		"POST /api/0/organizations/{org}/releases/{version}/deploys/": {Request: ref("DeployBody"), Response: ref("ReleaseDeploy"), Status: 201},
		"GET /api/0/organizations/{org}/releases/": {Response: list("Release"), Query: append(releaseQuery(),
			Param{Name: "project", Description: "A project id.", Repeated: true})},
		"POST /api/0/organizations/{org}/releases/": {Request: ref("ReleaseNew"), Response: ref("Release"), Status: 201, Also: []int{208},
			Description: "201 with a new release, 208 with the release that existed (its projects extended)."},
		"GET /api/0/organizations/{org}/releases/{version}/":         {Response: ref("Release"), Description: versionDesc},
		"PUT /api/0/organizations/{org}/releases/{version}/":         {Request: ref("ReleaseBody"), Response: ref("Release"), Description: versionDesc},
		"DELETE /api/0/organizations/{org}/releases/{version}/":      {Empty: true, Status: 204, Description: versionDesc + " " + releaseDeleteDesc},
		"GET /api/0/organizations/{org}/releases/{version}/commits/": {Response: list("ReleaseCommit")},
		"GET /api/0/organizations/{org}/releases/{version}/previous-with-commits/": {Response: map[string]any{"anyOf": []any{
			ref("Release"), map[string]any{"type": "object", "maxProperties": 0}}},
			Description: "The newest older release with commits, or `{}`."},
		"GET /api/0/projects/{org}/{project}/releases/":                   {Response: list("Release"), Query: releaseQuery()},
		"POST /api/0/projects/{org}/{project}/releases/":                  {Request: ref("ReleaseNew"), Response: ref("Release"), Status: 201, Also: []int{208}},
		"GET /api/0/projects/{org}/{project}/releases/{version}/":         {Response: ref("Release"), Description: versionDesc},
		"PUT /api/0/projects/{org}/{project}/releases/{version}/":         {Request: ref("ReleaseBody"), Response: ref("Release"), Description: versionDesc},
		"DELETE /api/0/projects/{org}/{project}/releases/{version}/":      {Empty: true, Status: 204, Description: versionDesc + " " + releaseDeleteDesc},
		"GET /api/0/projects/{org}/{project}/releases/{version}/commits/": {Response: list("ReleaseCommit")},
		"GET /api/0/organizations/{org}/repos/":                           {Response: list("Repository")},
		"POST /api/0/organizations/{org}/repos/":                          {Request: ref("RepositoryBody"), Response: ref("Repository"), Status: 201},

		// The API root (sentry-cli's info).
		"GET /api/0/": {Response: ref("ApiRoot"), Description: "The caller and its token's scopes; nulls without credentials."},

		// Issues in bulk (sentry-cli's issues resolve|mute|unresolve).
		"PUT /api/0/projects/{org}/{project}/issues/": {Request: ref("IssueUpdate"), Response: ref("BulkUpdate"), Also: []int{204},
			Query: bulkQuery(false), Description: bulkDesc},
		"PUT /api/0/organizations/{org}/issues/": {Request: ref("IssueUpdate"), Response: ref("BulkUpdate"), Also: []int{204},
			Query: bulkQuery(true), Description: bulkDesc},
		"DELETE /api/0/projects/{org}/{project}/issues/": {Empty: true, Status: 204, Query: bulkQuery(false),
			Description: "Deletes the issues named by `id`, `status` or `query` (one of them is required)."},
		"DELETE /api/0/organizations/{org}/issues/": {Empty: true, Status: 204, Query: bulkQuery(true),
			Description: "Deletes the issues named by `id`, `status` or `query` (one of them is required)."},
		"GET /api/0/organizations/{org}/issues/": {Response: list("IssueListItem"), Query: append(orgIssueQuery,
			Param{Name: "project", Description: "A project id (`-1` or none: every project).", Repeated: true})},

		// Client keys, users, feedback.
		"GET /api/0/projects/{org}/{project}/keys/":            {Response: list("Key")},
		"GET /api/0/projects/{org}/{project}/keys/{key}/":      {Response: ref("Key")},
		"PUT /api/0/projects/{org}/{project}/keys/{key}/":      {Response: ref("Key")},
		"DELETE /api/0/projects/{org}/{project}/keys/{key}/":   {Empty: true, Status: 204},
		"POST /api/0/projects/{org}/{project}/teams/{team}/":   {Response: ref("Project"), Status: 201},
		"DELETE /api/0/projects/{org}/{project}/teams/{team}/": {Response: ref("Project")},
		"GET /api/0/users/me/":                                 {Response: ref("User")},
		"PUT /api/0/users/me/":                                 {Request: ref("SlugBody"), Response: ref("User")},
		"GET /api/0/users/":                                    {Response: list("User")},
		"GET /api/0/projects/{org}/{project}/user-feedback/":   {Response: list("UserReport"), Query: cursor},

		// Deletions, answered at once, done in the background (Location
		// names the job).
		"DELETE /api/0/issues/{id}/":                                          {Empty: true, Status: 202},
		"DELETE /api/0/organizations/{org}/issues/{id}/":                      {Empty: true, Status: 202},
		"DELETE /api/0/projects/{org}/{project}/":                             {Empty: true, Status: 204},
		"DELETE /api/0/organizations/{org}/":                                  {Response: ref("Organization"), Status: 202},
		"POST /api/0/projects/{org}/{project}/user-deletions/":                {Response: typ("object"), Status: 202},
		"DELETE /api/0/organizations/{org}/members/{member_id}/":              {Empty: true, Status: 204},
		"POST /api/0/organizations/{org}/members/{member_id}/teams/{team}/":   {Response: ref("Team"), Status: 201, Also: []int{204}},
		"DELETE /api/0/organizations/{org}/members/{member_id}/teams/{team}/": {Response: ref("Team")},
		"POST /api/0/projects/{org}/{project}/keys/":                          {Request: ref("SlugBody"), Response: ref("Key"), Status: 201},

		// Accounts.
		"POST /api/0/auth/login/":                        {Request: ref("Login")},
		"DELETE /api/0/auth/":                            {Empty: true, Status: 204},
		"PUT /api/0/users/me/password/":                  {Request: ref("PasswordChange"), Empty: true, Status: 204},
		"POST /api/0/users/":                             {Request: ref("NewUser"), Response: ref("User"), Status: 201},
		"POST /api/0/internal/dead-letters/{id}/replay/": {Empty: true, Status: 202},
		"DELETE /api/0/internal/dead-letters/{id}/":      {Empty: true, Status: 204},

		// Source maps: sentry-cli's chunk upload and assembly, and the
		// legacy release files.
		"GET /api/0/organizations/{org}/chunk-upload/": {Response: ref("ChunkUploadOptions")},
		"POST /api/0/organizations/{org}/chunk-upload/": {Response: typ("object"),
			Description: "A multipart body of `file_gzip` (or `file`) parts, each named by the SHA-1 of its uncompressed bytes."},
		"POST /api/0/organizations/{org}/artifactbundle/assemble/": {Request: ref("AssembleBody"), Response: ref("AssembleState"), Description: assembleDesc},
		"POST /api/0/organizations/{org}/releases/{version}/assemble/": {Request: ref("AssembleBody"), Response: ref("AssembleState"),
			Description: assembleDesc + " The bundle's files become the release's files."},
		"GET /api/0/organizations/{org}/releases/{version}/files/":  {Response: list("ReleaseFile")},
		"POST /api/0/organizations/{org}/releases/{version}/files/": {Response: ref("ReleaseFile"), Status: 201, Description: releaseFileDesc},
		"GET /api/0/organizations/{org}/releases/{version}/files/{file_id}/": {Response: ref("ReleaseFile"),
			Query: []Param{{Name: "download", Description: "`1` for the file's bytes."}}},
		"DELETE /api/0/organizations/{org}/releases/{version}/files/{file_id}/": {Empty: true, Status: 204},
		"GET /api/0/projects/{org}/{project}/releases/{version}/files/":         {Response: list("ReleaseFile")},
		"POST /api/0/projects/{org}/{project}/releases/{version}/files/":        {Response: ref("ReleaseFile"), Status: 201, Description: releaseFileDesc},
		"GET /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/": {Response: ref("ReleaseFile"),
			Query: []Param{{Name: "download", Description: "`1` for the file's bytes."}}},
		"DELETE /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/": {Empty: true, Status: 204},

		// This document.
		"GET /api/openapi.json": {Response: map[string]any{"type": "object", "required": []string{"openapi", "paths"}},
			Description: "Generated from the route table: every route the process serves is an operation."},
	}
}

const (
	assembleDesc = "`not_found` with the chunks still missing, then `created`, `assembling`, and `ok` or `error` with a `detail`; " +
		"413 when the chunks together are over the bundle size limit."
	releaseFileDesc = "A multipart body: `file`, and `name` (the URL, `~/app.min.js`), `dist` and `header` (`Name: value`, repeated). " +
		"409 when the release has a file of that name and dist; 413 over the file size limit."
)

const (
	versionDesc       = "`version` may be percent-encoded (`1.0%2Bbuild`)."
	releaseDeleteDesc = "A release that issues refer to is refused with 400, as Sentry does."
	bulkDesc          = "The issues named by `id` (repeated), else `status`, else `query` (`is:unresolved` by default): " +
		"200 with the fields changed, 204 when none matches."
)

func releaseQuery() []Param {
	return []Param{{Name: "query", Description: "Part of the version."}, {Name: "per_page"},
		{Name: "cursor", Description: "Paging: the cursor of a `Link` header."}}
}

func bulkQuery(org bool) []Param {
	q := []Param{{Name: "id", Description: "An issue id.", Repeated: true}, {Name: "status"},
		{Name: "query", Description: "Sentry's search, e.g. `is:unresolved`."}}
	if org {
		q = append(q, Param{Name: "project", Description: "A project id.", Repeated: true})
	}
	return q
}

const (
	discardDesc = "`{\"discard\": true}` deletes the issue and drops its hashes' future events (filtered, `discarded-hash`): 204."
	unmergeDesc = "The hashes become a new issue (`destination`); their events move to it in the request (the job answers `done`) " +
		"or, above the server's `--unmerge-inline-max` events, in a background job (`pending`, then `in_progress` and `done`: " +
		"`GET /api/0/deletions/{id}/`)."
)

const eventIDDesc = "`event_id` is an event's id, or `latest`, `oldest` or `recommended`."

func eventQuery() []Param {
	return []Param{{Name: "full", Description: "`true` for the events' entries."}, {Name: "environment", Repeated: true},
		{Name: "cursor"}}
}

// Schema helpers. Objects list their properties; a name ending in "?" is
// optional, every other one required. Additional properties are allowed:
// Sentry's shapes grow.

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func list(name string) map[string]any { return arrayOf(ref(name)) }

func arrayOf(items any) map[string]any { return map[string]any{"type": "array", "items": items} }

func typ(t ...string) map[string]any {
	if len(t) == 1 {
		return map[string]any{"type": t[0]}
	}
	return map[string]any{"type": t}
}

func nullable(s any) map[string]any { return map[string]any{"anyOf": []any{s, typ("null")}} }

func object(props map[string]any) map[string]any {
	out := map[string]any{"type": "object"}
	ps := map[string]any{}
	req := []string{}
	for k, v := range props {
		if name, ok := strings.CutSuffix(k, "?"); ok {
			ps[name] = v
			continue
		}
		ps[k] = v
		req = append(req, k)
	}
	out["properties"] = ps
	out["required"] = sortedStrings(req)
	return out
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

// components are the shapes, in Sentry's JSON.
func components() map[string]any {
	str, strN := typ("string"), typ("string", "null")
	integer, intN := typ("integer"), typ("integer", "null")
	boolean := typ("boolean")
	null := typ("null")
	anything := map[string]any{}
	anyObject := typ("object")
	digits := map[string]any{"type": "string", "pattern": "^[0-9]+$"}
	dateTime := map[string]any{"type": "string", "format": "date-time"}
	dateTimeN := map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	strs := arrayOf(str)
	avatar := object(map[string]any{"avatarType": str, "avatarUuid": strN})
	return map[string]any{
		"Error": object(map[string]any{"detail": str}),
		"SlugBody": object(map[string]any{"name?": str, "slug?": str, "platform?": str,
			"isActive?": boolean, "cancelDeletion?": boolean}),
		"Organization": object(map[string]any{
			"id": digits, "slug": str, "name": str, "dateCreated": dateTime,
			"status":         object(map[string]any{"id": str, "name": str}),
			"isEarlyAdopter": boolean, "openMembership": boolean, "require2FA": boolean,
			"avatar": avatar, "features": strs,
			"links": object(map[string]any{"organizationUrl": str, "regionUrl": str}),
		}),
		"Team": object(map[string]any{
			"id": digits, "slug": str, "name": str, "dateCreated": dateTime, "isMember": boolean,
			"hasAccess": boolean, "isPending": boolean, "memberCount": integer, "avatar": avatar, "teamRole": strN,
		}),
		"TeamRef": object(map[string]any{"id": digits, "slug": str, "name": str}),
		"Project": object(map[string]any{
			"id": digits, "slug": str, "name": str, "platform": strN, "dateCreated": dateTime,
			"isBookmarked": boolean, "isMember": boolean, "hasAccess": boolean, "isPublic": boolean,
			"features": strs, "firstEvent": dateTimeN, "status": str, "teams": list("TeamRef"),
			"team?": ref("TeamRef"), "organization?": ref("Organization"), "avatar": avatar, "color": str,
			"retentionDays": integer, "allowedDomains": strs,
			"dataScrubber": boolean, "dataScrubberDefaults": boolean, "sensitiveFields": strs,
			"safeFields": strs, "scrubIPAddresses": boolean, "groupingConfig": str,
		}),
		"Member": object(map[string]any{
			"id": digits, "email": str, "name": str, "orgRole": str, "role": str, "roleName": str,
			"user": nullable(object(map[string]any{"id": digits, "email": str, "username": str, "name": str,
				"isSuperuser": boolean, "dateJoined": dateTime})),
			"pending": boolean, "expired": boolean,
			"flags":       map[string]any{"type": "object", "additionalProperties": boolean},
			"dateCreated": dateTime, "inviteStatus": str, "inviterName": strN, "teams": strs,
			"teamRoles": arrayOf(object(map[string]any{"teamSlug": str, "role": strN})), "projects": strs,
		}),
		"MemberBody": object(map[string]any{"email?": str, "orgRole?": str, "role?": str, "teams?": strs}),
		"ApiToken": object(map[string]any{
			"id": digits, "name": strN, "scopes": strs, "dateCreated": dateTime, "expiresAt": dateTimeN,
			"application": null, "tokenLastCharacters": strN, "lastUsed": dateTimeN,
			"dateLastUsed?": dateTimeN, "projectLastUsedId?": strN,
		}),
		"NewApiToken": map[string]any{"allOf": []any{ref("ApiToken"),
			object(map[string]any{"token": str, "refreshToken?": null})}},
		"Key": object(map[string]any{
			"id": str, "name": str, "label": str, "public": str, "secret": str, "projectId": integer,
			"isActive": boolean, "rateLimit": nullable(object(map[string]any{"window": integer, "count": integer})),
			"dateCreated": dateTime, "browserSdkVersion": str,
			"dsn": object(map[string]any{"public": str, "secret": str, "security": str, "csp": str,
				"minidump": str, "store": str, "envelope": str, "cdn": str}),
		}),
		"User": object(map[string]any{
			"id": digits, "name": str, "username": str, "email": str, "avatarUrl": str, "isActive": boolean,
			"hasPasswordAuth": boolean, "isManaged": boolean, "dateJoined": dateTime, "lastLogin": dateTimeN,
			"has2fa": boolean, "lastActive": dateTimeN, "isSuperuser": boolean, "isStaff": boolean,
			"experiments": anyObject, "avatar": avatar,
			"emails": arrayOf(object(map[string]any{"id": str, "email": str, "is_verified": boolean})),
		}),
		"UserReport": object(map[string]any{
			"id": digits, "eventID": str, "name": str, "email": str, "comments": str, "dateCreated": dateTime,
			"user": nullable(anyObject), "event": object(map[string]any{"id": str, "eventID": str}),
			"issue": nullable(ref("Issue")),
		}),
		"NewUser":        object(map[string]any{"email": str, "name?": str, "password?": str, "isSuperuser?": boolean}),
		"Login":          object(map[string]any{"username": str, "password": str}),
		"PasswordChange": object(map[string]any{"password": str, "passwordNew": str, "passwordVerify": str}),
		"TokenBody":      object(map[string]any{"name?": strN, "scopes?": strs}),
		"TokenDelete":    object(map[string]any{"tokenId?": typ("string", "integer")}),
		"Deploy": object(map[string]any{
			"id": str, "environment": str, "dateStarted": dateTimeN, "dateFinished": dateTime, "name": strN,
			"url": strN, "project": str, "revision": strN, "repository": strN, "username": strN, "email": strN,
		}),

		// Source maps.
		"ChunkUploadOptions": object(map[string]any{
			"url": str, "chunkSize": integer, "chunksPerRequest": integer, "maxFileSize": integer, "maxRequestSize": integer,
			"concurrency": integer, "hashAlgorithm": str, "compression": strs, "accept": strs,
		}),
		"AssembleBody":  object(map[string]any{"checksum": str, "chunks": strs, "projects?": strs, "version?": strN, "dist?": strN}),
		"AssembleState": object(map[string]any{"state": str, "missingChunks": strs, "detail?": strN}),
		"ReleaseFile": object(map[string]any{
			"id": str, "name": str, "dist": strN, "headers": typ("object"), "size": integer, "sha1": str, "dateCreated": dateTime,
		}),

		// Releases, repositories and commits, in Sentry's shapes, for the
		// routes that will serve them (register them in operations()).
		"Release": object(map[string]any{
			"version": str, "shortVersion": str, "ref": strN, "url": strN, "dateCreated": dateTime,
			"dateReleased": dateTimeN, "dateStarted?": dateTimeN, "firstEvent": dateTimeN, "lastEvent": dateTimeN,
			"newGroups": integer, "commitCount": integer, "lastCommit": nullable(ref("Commit")),
			"deployCount": integer, "lastDeploy": nullable(ref("ReleaseDeploy")),
			"authors": arrayOf(object(map[string]any{"name": str, "email": str})),
			"projects": arrayOf(object(map[string]any{"slug": str, "name": str, "id": integer, "newGroups": integer,
				"platform": strN, "platforms": strs, "hasHealthData": boolean})),
			"id": integer, "status": str, "owner": strN, "data": anyObject,
			"versionInfo": object(map[string]any{"package": strN, "version": anyObject, "description": str, "buildHash": strN}),
		}),
		"Repository": object(map[string]any{
			"id": digits, "name": str, "url": strN, "provider": object(map[string]any{"id": str, "name": str}),
			"status": str, "dateCreated": dateTimeN, "integrationId": str, "externalSlug": strN, "externalId": strN,
		}),
		"Commit": object(map[string]any{
			"id": str, "message": strN, "dateCreated": dateTimeN,
			"author":     nullable(object(map[string]any{"name": str, "email": str})),
			"repository": nullable(ref("Repository")),
		}),
		"ProjectRef": object(map[string]any{"id": digits, "slug": str, "name": str, "platform": strN}),
		"Issue": object(map[string]any{
			"id": digits, "shareId": strN, "shortId": str, "title": str, "culprit": str, "permalink": str,
			"logger": strN, "level": str, "status": map[string]any{"enum": []string{"unresolved", "resolved", "ignored"}},
			"statusDetails": anyObject, "substatus": strN, "isPublic": boolean, "platform": strN,
			"project": ref("ProjectRef"), "type": str, "issueType": str, "issueCategory": str,
			"metadata": map[string]any{"type": "object", "properties": map[string]any{
				"value": str, "type": str, "title": str, "filename": str, "function": str}},
			"numComments": integer, "assignedTo": nullable(ref("Assignee")), "isBookmarked": boolean,
			"isSubscribed": boolean, "subscriptionDetails": nullable(anyObject), "hasSeen": boolean,
			"annotations": strs, "isUnhandled": boolean, "count": digits, "userCount": integer,
			"firstSeen": dateTime, "lastSeen": dateTime,
			"stats?": map[string]any{"type": "object", "additionalProperties": arrayOf(map[string]any{
				"type": "array", "prefixItems": []any{integer, integer}, "minItems": 2, "maxItems": 2})},
		}),
		"IssueDetail": map[string]any{"allOf": []any{ref("Issue"), object(map[string]any{
			"firstRelease": nullable(ref("IssueRelease")), "lastRelease": nullable(ref("IssueRelease"))}),
			object(map[string]any{"activity": list("Activity"), "userReportCount": integer,
				"participants": typ("array"), "seenBy": typ("array"), "pluginActions": typ("array"),
				"pluginIssues": typ("array"), "pluginContexts": typ("array")})}},
		"IssueRelease": object(map[string]any{
			"version": str, "shortVersion": str, "ref": strN, "url": strN, "dateCreated": dateTime,
			"dateReleased": dateTimeN, "firstEvent": dateTimeN, "lastEvent": dateTimeN, "newGroups": intN,
			"commitCount": integer, "lastCommit": map[string]any{"type": []string{"object", "string", "null"}},
			"deployCount": integer, "lastDeploy": nullable(anyObject), "authors": typ("array"), "projects": typ("array"),
		}),
		"IssueUpdate": object(map[string]any{
			"status?":        map[string]any{"enum": []string{"resolved", "unresolved", "ignored", "muted", "resolvedInNextRelease"}},
			"substatus?":     strN,
			"statusDetails?": ref("StatusDetails"),

			"snoozeDuration?": integer,
			"assignedTo?":     typ("string", "integer", "null"),
			"isBookmarked?":   boolean, "isSubscribed?": boolean, "hasSeen?": boolean,
			"merge?": typ("boolean", "integer"), "discard?": boolean,
		}),
		"Assignee": object(map[string]any{"type": map[string]any{"enum": []string{"user", "team"}}, "id": digits, "name": str,
			"email?": strN}),
		"IssueHash": object(map[string]any{"id": str, "latestEvent": nullable(ref("Event")), "mergedBySeer": boolean}),
		"Job": object(map[string]any{
			"id": str, "kind": map[string]any{"enum": []string{"issue", "project", "organization", "user_data", "merge", "unmerge"}},
			"status":       map[string]any{"enum": []string{"pending", "in_progress", "done", "failed", "cancelled"}},
			"organization": strN, "projects": arrayOf(digits), "issue": typ("string", "null"), "destination": typ("string", "null"),
			"eventsDeleted": integer, "eventsMoved": integer, "attempts": integer, "error": strN,
			"dateCreated": dateTime, "dateStarted": dateTimeN, "dateFinished": dateTimeN,
		}),
		"Note": object(map[string]any{"id": digits, "type": map[string]any{"enum": []string{"note"}},
			"user": nullable(anyObject), "data": object(map[string]any{"text": str}), "dateCreated": dateTime}),
		"NoteBody": object(map[string]any{"text": str}),
		"StatusDetails": object(map[string]any{
			"inNextRelease?": boolean, "ignoreDuration?": integer, "ignoreCount?": integer, "ignoreWindow?": integer,
			"ignoreUserCount?": integer, "ignoreUserWindow?": integer, "ignoreUntil?": dateTime,
			"inRelease?": str,
		}),

		// Issue 14's routes: issue lists, bulk changes, activity, releases,
		// commits, deploys, repositories, the API root.
		"IssueListItem": map[string]any{"allOf": []any{ref("Issue"), object(map[string]any{
			"stats":         map[string]any{"type": "object", "minProperties": 1},
			"firstRelease?": nullable(object(map[string]any{"version": str, "shortVersion": str}))})}},
		"BulkUpdate": object(map[string]any{"status?": str, "statusDetails?": anyObject, "substatus?": strN,
			"assignedTo?": nullable(ref("Assignee")), "isBookmarked?": boolean, "isSubscribed?": boolean, "hasSeen?": boolean,
			"merge?": object(map[string]any{"parent": digits, "children": arrayOf(digits)})}),
		"Activity": object(map[string]any{
			"id": digits, "type": str, "data": anyObject, "dateCreated": dateTime,
			"user": nullable(object(map[string]any{"id": digits, "name": str, "username": str, "email": str})),
		}),
		"ReleaseBody": object(releaseBody(false)),
		"ReleaseNew":  object(releaseBody(true)),
		"ReleaseCommit": map[string]any{"allOf": []any{ref("Commit"), object(map[string]any{
			"files": arrayOf(object(map[string]any{"path": str, "type": str}))})}},
		"ReleaseDeploy": object(map[string]any{
			"id": str, "environment": str, "dateStarted": dateTimeN, "dateFinished": dateTime, "name": strN,
			"url": strN, "projects": strs, "revision": strN, "repository": strN, "username": strN, "email": strN,
		}),
		"DeployBody": object(map[string]any{"environment": str, "name?": str, "url?": str, "dateStarted?": str,
			"dateFinished?": str, "projects?": strs}),
		"RepositoryBody": object(map[string]any{"name": str, "url?": str, "provider?": str}),
		"ApiRoot": object(map[string]any{
			"version": str,
			"auth":    nullable(object(map[string]any{"scopes": strs})),
			"user":    nullable(object(map[string]any{"id": digits, "name": str, "username": str, "email": str})),
		}),

		"Event": object(map[string]any{
			"id": str, "eventID": str, "groupID": digits, "projectID": digits, "dateCreated": dateTime,
			"dateReceived": dateTime, "title": str, "message": str, "platform": str, "type": str,
			"event.type": str, "culprit": str, "location": strN,
			"tags":      arrayOf(object(map[string]any{"key": str, "value": str})),
			"user":      nullable(ref("EventUser")),
			"size":      integer,
			"metadata?": anyObject,
		}),
		"EventUser": object(map[string]any{"id": strN, "email": strN, "username": strN, "ip_address": strN,
			"name": strN, "data": anything}),
		"EventDetail": map[string]any{"allOf": []any{ref("Event"), object(map[string]any{
			"environment": strN,
			"release":     nullable(object(map[string]any{"version": str, "shortVersion": str})),
			"sdk":         nullable(object(map[string]any{"name": str, "version": str})),
			"contexts":    anyObject, "context": anyObject, "packages": anyObject,
			"errors": arrayOf(object(map[string]any{"type": str, "message": str, "data": anyObject})),
			"dist":   strN, "logger": str,
			"fingerprints?":   strs,
			"groupingConfig?": anyObject,
			"entries":         list("Entry"),
			"crashFile":       null, "occurrence": null, "_meta": anyObject,
		})}},
		"Entry": map[string]any{
			"type": "object", "required": []string{"type", "data"},
			"properties": map[string]any{"type": str, "data": anything},
			"allOf": []any{
				entryData("exception", ref("ExceptionEntry")),
				entryData("stacktrace", ref("Stacktrace")),
				entryData("threads", object(map[string]any{"values": arrayOf(object(map[string]any{
					"id": anything, "name": strN, "crashed": boolean, "current": boolean, "main": boolean,
					"stacktrace": nullable(ref("Stacktrace"))}))})),
				entryData("message", object(map[string]any{"formatted": str, "message": strN, "params": anything})),
				entryData("breadcrumbs", object(map[string]any{"values": arrayOf(object(map[string]any{
					"type": str, "category": strN, "level": str, "message": strN, "timestamp": dateTimeN,
					"data": anything, "event_id": strN}))})),
				entryData("request", object(map[string]any{
					"url": strN, "method": strN, "query": arrayOf(pair(str, str)), "fragment": strN, "data": anything,
					"headers": arrayOf(pair(str, str)), "cookies": arrayOf(pair(str, str)), "env": anything,
					"inferredContentType": strN, "apiTarget": null})),
			},
		},
		"ExceptionEntry": object(map[string]any{
			"values": list("ExceptionValue"), "hasSystemFrames": boolean, "excOmitted": typ("array", "null"),
		}),
		"ExceptionValue": object(map[string]any{
			"type": strN, "value": strN, "module": strN, "mechanism": nullable(anyObject), "threadId": anything,
			"rawStacktrace": nullable(ref("Stacktrace")), "stacktrace": nullable(ref("Stacktrace")),
		}),
		"Stacktrace": object(map[string]any{
			"frames": list("Frame"), "framesOmitted": typ("array", "null"), "registers": anything,
			"hasSystemFrames": boolean,
		}),
		"Frame": object(map[string]any{
			"filename": strN, "absPath": strN, "module": strN, "package": strN, "platform": strN,
			"instructionAddr": strN, "symbolAddr": strN, "function": strN, "rawFunction": strN, "symbol": strN,
			"context": arrayOf(pair(integer, str)), "lineNo": intN, "colNo": intN, "inApp": boolean,
			"trust": strN, "errors": typ("array", "null"), "lock": nullable(anyObject), "sourceLink": strN,
			"vars": anything,

			"data?": nullable(anyObject), // what processing recorded (source maps)
		}),
	}
}

// releaseBody is Sentry's release POST (version required) and PUT body,
// as sentry-cli sends it: commits with their authors and files
// (set-commits --local), or refs (--commit REPO@SHA).
func releaseBody(create bool) map[string]any {
	str, strs := typ("string"), arrayOf(typ("string"))
	strN := typ("string", "null")
	out := map[string]any{
		"version?": str, "ref?": strN, "url?": strN, "owner?": strN, "dateReleased?": strN, "dateStarted?": strN,
		"projects?": strs,
		"commits?": arrayOf(object(map[string]any{"id": str, "repository?": str, "message?": str,
			"author_name?": str, "author_email?": str, "timestamp?": str,
			"patch_set?": arrayOf(object(map[string]any{"path": str, "type": str}))})),
		"refs?": arrayOf(object(map[string]any{"repository": str, "commit": str, "previousCommit?": str})),
	}
	if create {
		delete(out, "version?")
		out["version"] = str
	}
	return out
}

// entryData is the schema an entry's data has for its type.
func entryData(kind string, data any) map[string]any {
	return map[string]any{
		"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": kind}}},
		"then": map[string]any{"properties": map[string]any{"data": data}},
	}
}

// pair is a two-item array, e.g. a context line [lineNo, "code"].
func pair(a, b any) map[string]any {
	return map[string]any{"type": "array", "prefixItems": []any{a, b}, "minItems": 2, "maxItems": 2}
}

// Registered lists the routes the registry describes, as "METHOD path".
func Registered() []string {
	var out []string
	for k := range operations() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
