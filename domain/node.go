package domain

import (
	"encoding/base64"
	"strings"
)

// A Node is an object clients may refetch by its global id with node(id:)
// and nodes(ids:): a campaign, a participation or a user.
type Node interface {
	// GlobalID is the object's opaque global id: its kind and its id.
	GlobalID() string
}

// NodeKind names the kind of object a global id is for; it is the GraphQL
// type name.
type NodeKind string

const (
	NodeCampaign      NodeKind = "Campaign"
	NodeParticipation NodeKind = "Participation"
	NodeUser          NodeKind = "User"
)

// MaxNodes is the most ids one nodes(ids:) call may ask for: a page's worth.
const MaxNodes = MaxPageSize

// GlobalID is the opaque global id of the object of kind with the stored id
// id: base64url (no padding) of "Kind:id". Clients must not take it apart;
// every other argument of the API takes the plain id.
func GlobalID(kind NodeKind, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(kind) + ":" + id))
}

// ParseGlobalID reads a global id this API returned: BAD_USER_INPUT on field
// for anything that is not one. A well-formed id says nothing of whether its
// object exists.
func ParseGlobalID(field, s string) (NodeKind, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		kind, id, ok := strings.Cut(string(b), ":")
		switch k := NodeKind(kind); {
		case !ok || id == "":
		case k == NodeCampaign, k == NodeParticipation, k == NodeUser:
			return k, id, nil
		}
	}
	return "", "", Invalid(field, "%s is not a global id this API returned", field)
}

// GlobalID is the campaign's global id.
func (c Campaign) GlobalID() string { return GlobalID(NodeCampaign, c.ID) }

// GlobalID is the participation's global id.
func (p Participation) GlobalID() string { return GlobalID(NodeParticipation, p.ID) }

// GlobalID is the user's global id.
func (u User) GlobalID() string { return GlobalID(NodeUser, u.ID) }
