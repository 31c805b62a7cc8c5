/** What an export knows of a VM, to describe it in OVF 1.0. */
export interface ExportSpec {
  name: string;
  cpus: number;
  memory_mib: number;
  firmware: 'EFI' | 'BIOS';
  discs: { href: string; size: number; capacity_bytes: number }[];
  nics: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * An OVF 1.0 descriptor in the form ovftool writes (VMware's `vmw:Config firmware` for EFI, a
 * SCSI controller for the discs, E1000 NICs on one network), so VMware and VirtualBox import it and
 * hyved's own parser reads back the same CPU, memory, disc sizes and firmware.
 */
export function buildOvf(s: ExportSpec): string {
  let id = 0;
  const item = (type: number, name: string, body: string) =>
    `      <Item>\n        <rasd:ElementName>${esc(name)}</rasd:ElementName>\n        <rasd:InstanceID>${++id}</rasd:InstanceID>\n        <rasd:ResourceType>${type}</rasd:ResourceType>\n${body}      </Item>\n`;
  const line = (tag: string, v: string | number) => `        <rasd:${tag}>${typeof v === 'string' ? esc(v) : v}</rasd:${tag}>\n`;
  let hw = item(3, `${s.cpus} virtual CPU(s)`, line('AllocationUnits', 'hertz * 10^6') + line('VirtualQuantity', s.cpus));
  hw += item(4, `${s.memory_mib}MB of memory`, line('AllocationUnits', 'byte * 2^20') + line('VirtualQuantity', s.memory_mib));
  const scsi = id + 1;
  hw += item(6, 'SCSI controller 0', line('ResourceSubType', 'lsilogic'));
  s.discs.forEach((_, i) => {
    hw += item(17, `Hard disk ${i + 1}`, line('AddressOnParent', i) + line('HostResource', `ovf:/disk/vmdisk${i + 1}`) + line('Parent', scsi));
  });
  for (let i = 0; i < s.nics; i++) {
    hw += item(10, `Network adapter ${i + 1}`, line('AutomaticAllocation', 'true') + line('Connection', 'VM Network') + line('ResourceSubType', 'E1000'));
  }
  const files = s.discs.map((d, i) => `    <File ovf:href="${esc(d.href)}" ovf:id="file${i + 1}" ovf:size="${d.size}"/>\n`).join('');
  const disks = s.discs
    .map((d, i) => `    <Disk ovf:capacity="${d.capacity_bytes}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>\n`)
    .join('');
  const network = s.nics > 0 ? '  <NetworkSection>\n    <Info>The list of logical networks</Info>\n    <Network ovf:name="VM Network">\n      <Description>The VM Network network</Description>\n    </Network>\n  </NetworkSection>\n' : '';
  const efi = s.firmware === 'EFI' ? '      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>\n' : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
${files}  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks}  </DiskSection>
${network}  <VirtualSystem ovf:id="${esc(s.name)}">
    <Info>A virtual machine exported by hyved</Info>
    <Name>${esc(s.name)}</Name>
    <OperatingSystemSection ovf:id="1">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${esc(s.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
${hw}${efi}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
