package domain

// Who may do what. Each rule is stated here once, as a pure function of the
// caller (a user id and role; the empty id is anonymous) and the thing acted
// on. The services apply them to their caller; the transports never do.

// Action is something that only some roles may do at all, whatever it is
// done to.
type Action string

// The role rules, one an action.
const (
	ActionCreateCampaign Action = "create campaigns"
	ActionChangeCampaign Action = "change campaigns"
	ActionJoinCampaign   Action = "join campaigns"
	ActionCreateAPIKey   Action = "create API keys"
	ActionVerify         Action = "verify the counters"
	ActionRunPayouts     Action = "run payouts and mark them"
)

// actionRoles are the roles that may take each action. Admins are named
// where they may: an admin acts for brands, but neither runs campaigns nor
// joins them.
var actionRoles = map[Action][]Role{
	ActionCreateCampaign: {RoleBrand},
	ActionChangeCampaign: {RoleBrand, RoleAdmin},
	ActionJoinCampaign:   {RoleStreamer},
	ActionCreateAPIKey:   {RoleBrand, RoleAdmin},
	ActionVerify:         {RoleAdmin},
	ActionRunPayouts:     {RoleAdmin},
}

// Allows reports whether role may take action a.
func (a Action) Allows(role Role) bool {
	for _, r := range actionRoles[a] {
		if r == role {
			return true
		}
	}
	return false
}

// Check returns nil when role may take action a, and FORBIDDEN naming the
// roles that may otherwise.
func (a Action) Check(role Role) error {
	if a.Allows(role) {
		return nil
	}
	names := ""
	for i, r := range actionRoles[a] {
		switch {
		case i == 0:
		case i == len(actionRoles[a])-1:
			names += " and "
		default:
			names += ", "
		}
		names += roleNoun[r]
	}
	return Errorf(EFORBIDDEN, "only %s %s", names, a)
}

var roleNoun = map[Role]string{RoleStreamer: "streamers", RoleBrand: "brands", RoleAdmin: "admins"}

// ActsFor reports whether the user (userID, role) may act as the user
// target: is that user, or an admin. It is the one statement of "the user
// themself or an admin", the rule for private profile fields, a streamer's
// participations, tokens and stats, and API keys.
func ActsFor(userID string, role Role, target string) bool {
	return userID != "" && (role == RoleAdmin || userID == target)
}

// CanManageCampaign reports whether a user may change a campaign, read its
// private fields (postbackUrl), its participations, conversions and stats:
// its brand or an admin.
func CanManageCampaign(userID string, role Role, c Campaign) bool {
	return userID != "" && (role == RoleAdmin || (role == RoleBrand && c.BrandID == userID))
}

// CanSeeCampaign reports whether a user may see a campaign: admins any,
// brands their own, streamers ACTIVE ones and those they take part in.
// joined says whether userID has a participation in c; it is asked only for
// a streamer and a campaign that is not ACTIVE, since it costs a read.
// Whoever may not see a campaign is told it is NOT_FOUND, so that ids do not
// reveal what exists.
func CanSeeCampaign(userID string, role Role, c Campaign, joined func() (bool, error)) (bool, error) {
	switch {
	case CanManageCampaign(userID, role, c):
		return true, nil
	case userID != "" && role == RoleStreamer:
		if c.Status == CampaignActive {
			return true, nil
		}
		return joined()
	}
	return false, nil
}

// CanSeeParticipation reports whether a user may see a participation: its
// streamer, admins, and the brand of its campaign. brandOf returns the brand
// id of the participation's campaign ("" when it no longer exists); it is
// asked only for a brand, since it costs a read. Whoever may not see a
// participation is told it is NOT_FOUND.
func CanSeeParticipation(userID string, role Role, p Participation, brandOf func() (string, error)) (bool, error) {
	switch {
	case ActsFor(userID, role, p.StreamerID):
		return true, nil
	case userID != "" && role == RoleBrand:
		brand, err := brandOf()
		return err == nil && brand != "" && brand == userID, err
	}
	return false, nil
}

// CanSeeConversion reports whether a user may see a conversion (or the
// click it is attributed to): whoever may see its participation — its
// streamer, admins, and the brand of camp, its campaign. Whoever may not is
// told it is NOT_FOUND, as for an id that does not exist; whoever may see
// it but not change it, FORBIDDEN.
func CanSeeConversion(userID string, role Role, streamerID string, camp Campaign) bool {
	return ActsFor(userID, role, streamerID) || CanManageCampaign(userID, role, camp)
}

// CanSeePrivateFields reports whether a user may see u's private fields
// (email, overlay settings): u themself — also on the signUp/logIn answer,
// before the request carries a token (u.SignedIn) — and admins. Others reach
// a user as a campaign's brand or a participation's streamer, and an overlay
// token (in every click link a streamer shares) must not reveal them.
func CanSeePrivateFields(userID string, role Role, u User) bool {
	return u.SignedIn || ActsFor(userID, role, u.ID)
}
