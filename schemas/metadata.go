package schemas

// Endpoint metadata keys under which a micro endpoint publishes its schemas
// (nats micro info auth0-worker shows them). micro has no schema field of
// its own any more; these names follow the older micro schema fields
// (request, response) with the error body beside them.
const (
	MetaRequestSchema  = "request_schema"
	MetaResponseSchema = "response_schema"
	MetaErrorSchema    = "error_schema"
)

// EndpointMetadata is the metadata of the command's micro endpoint: its
// request, success reply and error schemas, each bundled to stand alone.
// It fails only for a command without schemas.
func EndpointMetadata(command string) (map[string]string, error) {
	meta := map[string]string{}
	for key, name := range map[string]string{
		MetaRequestSchema: Request(command), MetaResponseSchema: Reply(command), MetaErrorSchema: Error,
	} {
		b, err := Bundle(name)
		if err != nil {
			return nil, err
		}
		meta[key] = string(b)
	}
	return meta, nil
}
