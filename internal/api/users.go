package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// Users is the user accounts the API reads and writes.
type Users interface {
	User(id uint64) (*meta.User, bool)
	UserByEmail(email string) (*meta.User, bool)
	Users() []*meta.User
	CreateUser(ctx context.Context, email, name, password string, superuser bool) (*meta.User, error)
	UpdateUserName(ctx context.Context, id uint64, name string) (*meta.User, error)
	SetPassword(ctx context.Context, id uint64, password string) (*meta.User, error)
}

// userJSON is Sentry's user serialization.
type userJSON struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	Username        string         `json:"username"`
	Email           string         `json:"email"`
	AvatarURL       string         `json:"avatarUrl"`
	IsActive        bool           `json:"isActive"`
	HasPasswordAuth bool           `json:"hasPasswordAuth"`
	IsManaged       bool           `json:"isManaged"`
	DateJoined      time.Time      `json:"dateJoined"`
	LastLogin       *time.Time     `json:"lastLogin"`
	Has2fa          bool           `json:"has2fa"`
	LastActive      *time.Time     `json:"lastActive"`
	IsSuperuser     bool           `json:"isSuperuser"`
	IsStaff         bool           `json:"isStaff"`
	Experiments     map[string]any `json:"experiments"`
	Emails          []userEmail    `json:"emails"`
	Avatar          userAvatar     `json:"avatar"`
}

type userEmail struct {
	ID         string `json:"id"`
	Email      string `json:"email"`
	IsVerified bool   `json:"is_verified"`
}

type userAvatar struct {
	AvatarType string  `json:"avatarType"`
	AvatarUUID *string `json:"avatarUuid"`
}

func serializeAccount(u *meta.User) userJSON {
	id := strconv.FormatUint(u.ID, 10)
	return userJSON{
		ID: id, Name: u.Name, Username: u.Email, Email: u.Email, IsActive: true,
		HasPasswordAuth: u.PasswordHash != "", DateJoined: u.DateCreated, IsSuperuser: u.Superuser,
		IsStaff: u.Superuser, Experiments: map[string]any{},
		Emails: []userEmail{{ID: id, Email: u.Email, IsVerified: false}},
		Avatar: userAvatar{AvatarType: "letter_avatar"},
	}
}

// getMe is Sentry's GET /api/0/users/me/: the caller.
func (a *API) getMe(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	return ok(serializeAccount(c.user))
}

// updateMe is Sentry's PUT /api/0/users/me/: {name}.
func (a *API) updateMe(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b struct {
		Name *string `json:"name"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	u := c.user
	if b.Name != nil {
		var err error
		if u, err = a.cfg.Users.UpdateUserName(ctx, c.user.ID, *b.Name); err != nil {
			return nil, err
		}
	}
	return ok(serializeAccount(u))
}

// changePassword is Sentry's PUT /api/0/users/me/password/: {password,
// passwordNew, passwordVerify}. The old password is required, and counts
// toward the lockout when wrong. The user's other sessions are revoked;
// the caller's own stays.
func (a *API) changePassword(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b struct {
		Password       string `json:"password"`
		PasswordNew    string `json:"passwordNew"`
		PasswordVerify string `json:"passwordVerify"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.PasswordNew != b.PasswordVerify {
		return nil, errorf(http.StatusBadRequest, "passwordVerify: The passwords do not match.")
	}
	if err := meta.ValidatePassword(b.PasswordNew); err != nil {
		return nil, err
	}
	email, addr := meta.NormalizeEmail(c.user.Email), a.clientAddr(r)
	if a.cfg.Sessions != nil {
		if wait, err := a.cfg.Sessions.Locked(ctx, email, addr); err != nil {
			return nil, err
		} else if wait > 0 {
			return tooManyAttempts(wait), nil
		}
	}
	if !meta.CheckPassword(c.user.PasswordHash, b.Password) {
		if a.cfg.Sessions != nil {
			if err := a.cfg.Sessions.Fail(ctx, email, addr); err != nil {
				return nil, err
			}
		}
		return nil, errorf(http.StatusBadRequest, "password: The password you entered is not correct.")
	}
	u, err := a.cfg.Users.SetPassword(ctx, c.user.ID, b.PasswordNew)
	if err != nil {
		return nil, err
	}
	if c.session != nil {
		if err := a.cfg.Sessions.Renew(ctx, c.session, u.PasswordVersion); err != nil {
			return nil, err
		}
	}
	a.log.Info("password changed", "user", u.ID)
	return &response{status: http.StatusNoContent}, nil
}

// listUsers is Faultline's GET /api/0/users/ (superusers): every user.
func (a *API) listUsers(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	us := a.cfg.Users.Users()
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, serializeAccount(u))
	}
	return ok(out)
}

// createUser is Faultline's POST /api/0/users/ (superusers): {email, name,
// password, isSuperuser} → 201 with the user.
func (a *API) createUser(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	var b struct {
		Email       string `json:"email"`
		Name        string `json:"name"`
		Password    string `json:"password"`
		IsSuperuser bool   `json:"isSuperuser"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	u, err := a.cfg.Users.CreateUser(ctx, b.Email, b.Name, b.Password, b.IsSuperuser)
	if errors.Is(err, meta.ErrExists) {
		return nil, errorf(http.StatusConflict, "A user with this e-mail already exists.")
	}
	if err != nil {
		return nil, err
	}
	a.log.Info("user created", "user", u.ID, "by", c.user.ID, "superuser", u.Superuser)
	return created(serializeAccount(u))
}
