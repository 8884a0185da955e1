import { clusterId } from 'domainmesh'
document.querySelector('#out').textContent = clusterId('example')
