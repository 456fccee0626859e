package regions

import "github.com/koala-dev/koala/internal/ec2/protocol"

// XML shapes of the region, zone and account attribute actions, named as in botocore's
// EC2 model. Every list is sent even when empty, as EC2 does.

// emptyListXML renders a list EC2 always sends and Koala has nothing to put in.
type emptyListXML struct{}

type regionXML struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint,omitempty"`
	OptInStatus    string `xml:"optInStatus"`
}

type regionSetXML struct {
	Items []regionXML `xml:"item"`
}

type describeRegionsResponse struct {
	protocol.Meta
	RegionInfo regionSetXML `xml:"regionInfo"`
}

type zoneXML struct {
	ZoneName           string       `xml:"zoneName"`
	ZoneID             string       `xml:"zoneId"`
	ZoneState          string       `xml:"zoneState"`
	ZoneType           string       `xml:"zoneType"`
	RegionName         string       `xml:"regionName"`
	GroupName          string       `xml:"groupName"`
	NetworkBorderGroup string       `xml:"networkBorderGroup"`
	OptInStatus        string       `xml:"optInStatus"`
	MessageSet         emptyListXML `xml:"messageSet"`
}

type zoneSetXML struct {
	Items []zoneXML `xml:"item"`
}

type describeZonesResponse struct {
	protocol.Meta
	AvailabilityZoneInfo zoneSetXML `xml:"availabilityZoneInfo"`
}

type attributeValueXML struct {
	AttributeValue string `xml:"attributeValue"`
}

type accountAttributeXML struct {
	AttributeName     string              `xml:"attributeName"`
	AttributeValueSet []attributeValueXML `xml:"attributeValueSet>item"`
}

type accountAttributeSetXML struct {
	Items []accountAttributeXML `xml:"item"`
}

type describeAccountAttributesResponse struct {
	protocol.Meta
	AccountAttributeSet accountAttributeSetXML `xml:"accountAttributeSet"`
}
