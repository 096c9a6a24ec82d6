package resolvers

import (
	"context"

	"tally/domain"
)

// node fetches the object a global id names through the service method of
// its own query, which authorizes the caller: campaign(id:), participation(id:),
// and accounts' User. What the caller may not see (NOT_FOUND, FORBIDDEN) is
// null, like an id that never existed; UNAUTHENTICATED and store errors are
// errors. field names the argument for BAD_USER_INPUT.
func (r *Resolver) node(ctx context.Context, field, gid string) (domain.Node, error) {
	kind, id, err := domain.ParseGlobalID(field, gid)
	if err != nil {
		return nil, err
	}
	var n domain.Node
	switch kind {
	case domain.NodeCampaign:
		n, err = r.CampaignService.Get(ctx, id)
	case domain.NodeParticipation:
		n, err = r.CampaignService.Participation(ctx, id)
	case domain.NodeUser:
		n, err = r.Accounts.User(ctx, id)
	}
	switch domain.ErrorCode(err) {
	case "":
		return n, nil
	case domain.ENOTFOUND, domain.EFORBIDDEN:
		return nil, nil
	}
	return nil, err
}
